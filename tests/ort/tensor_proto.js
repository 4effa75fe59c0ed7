'use strict';
// ONNX TensorProto <-> { name, type, dims, data } without a protobuf library: the
// protobuf wire format for the handful of TensorProto fields a test file uses.
// `type` and the typed array follow onnxruntime-node's naming ('float32', Float32Array...).

// onnx.proto TensorProto field numbers
const F_DIMS = 1, F_DATA_TYPE = 2, F_SEGMENT = 3, F_FLOAT = 4, F_INT32 = 5, F_STRING = 6,
  F_INT64 = 7, F_NAME = 8, F_RAW = 9, F_DOUBLE = 10, F_UINT64 = 11, F_EXTERNAL = 13,
  F_LOCATION = 14;

// data_type -> ORT type name, typed array, byte size, and the repeated field that holds
// the values when raw_data is absent (per onnx.proto's comments).
const DTYPES = {
  1: { name: 'float32', array: Float32Array, size: 4, field: F_FLOAT },
  2: { name: 'uint8', array: Uint8Array, size: 1, field: F_INT32 },
  3: { name: 'int8', array: Int8Array, size: 1, field: F_INT32 },
  4: { name: 'uint16', array: Uint16Array, size: 2, field: F_INT32 },
  5: { name: 'int16', array: Int16Array, size: 2, field: F_INT32 },
  6: { name: 'int32', array: Int32Array, size: 4, field: F_INT32 },
  7: { name: 'int64', array: BigInt64Array, size: 8, field: F_INT64 },
  9: { name: 'bool', array: Uint8Array, size: 1, field: F_INT32 },
  10: { name: 'float16', array: Uint16Array, size: 2, field: F_INT32 },  // bit patterns
  11: { name: 'float64', array: Float64Array, size: 8, field: F_DOUBLE },
};
const CODE_BY_NAME = Object.fromEntries(Object.entries(DTYPES).map(([code, d]) => [d.name, Number(code)]));

class Reader {
  constructor(bytes) { this.buf = bytes; this.pos = 0; }
  done() { return this.pos >= this.buf.length; }
  varint() {  // as BigInt: int64 dims and data need all 64 bits
    let result = 0n, shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error('TensorProto: truncated varint');
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new Error('TensorProto: varint longer than 10 bytes');
    }
  }
  bytes(n) {
    if (n < 0 || this.pos + n > this.buf.length) throw new Error(`TensorProto: field of ${n} bytes runs past the end`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  skip(wire) {
    if (wire === 0) this.varint();
    else if (wire === 1) this.bytes(8);
    else if (wire === 2) this.bytes(Number(this.varint()));
    else if (wire === 5) this.bytes(4);
    else throw new Error(`TensorProto: unsupported wire type ${wire}`);
  }
}

function toInt64(v) { return BigInt.asIntN(64, v); }

// Collects the values of a repeated numeric field, packed or not.
function readRepeated(reader, wire, kind, out) {
  const readOne = (r) => {
    if (kind === 'varint') return r.varint();
    const b = r.bytes(kind === 'fixed32' ? 4 : 8);
    const view = new DataView(b.buffer, b.byteOffset, b.length);
    return kind === 'fixed32' ? view.getFloat32(0, true) : view.getFloat64(0, true);
  };
  if (wire === 2) {
    const packed = new Reader(reader.bytes(Number(reader.varint())));
    while (!packed.done()) out.push(readOne(packed));
  } else {
    out.push(readOne(reader));
  }
}

function decode(bytes) {
  const r = new Reader(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));
  const dims = [], floats = [], int32s = [], int64s = [], doubles = [];
  let dataType = 0, name = '', raw = null;
  while (!r.done()) {
    const key = Number(r.varint());
    const field = key >>> 3, wire = key & 7;
    switch (field) {
      case F_DIMS: readRepeated(r, wire, 'varint', dims); break;
      case F_DATA_TYPE: dataType = Number(r.varint()); break;
      case F_FLOAT: readRepeated(r, wire, 'fixed32', floats); break;
      case F_INT32: readRepeated(r, wire, 'varint', int32s); break;
      case F_INT64: readRepeated(r, wire, 'varint', int64s); break;
      case F_NAME: name = Buffer.from(r.bytes(Number(r.varint()))).toString('utf8'); break;
      case F_RAW: raw = r.bytes(Number(r.varint())); break;
      case F_DOUBLE: readRepeated(r, wire, 'fixed64', doubles); break;
      case F_STRING: case F_UINT64: case F_SEGMENT: case F_EXTERNAL:
        throw new Error(`TensorProto: field ${field} (strings, uint64 data, segments, external data) is not supported`);
      case F_LOCATION:
        if (Number(r.varint()) !== 0) throw new Error('TensorProto: external data is not supported');
        break;
      default: r.skip(wire);
    }
  }
  const dt = DTYPES[dataType];
  if (!dt) throw new Error(`TensorProto '${name}': data_type ${dataType} is not supported`);
  const shape = dims.map((d) => {
    const v = toInt64(d);
    if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`TensorProto '${name}': bad dim ${v}`);
    return Number(v);
  });
  const count = shape.reduce((a, b) => a * b, 1);
  let data;
  if (raw !== null) {
    if (raw.length !== count * dt.size) {
      throw new Error(`TensorProto '${name}': raw_data has ${raw.length} bytes, shape [${shape}] of ${dt.name} needs ${count * dt.size}`);
    }
    data = new dt.array(count);
    new Uint8Array(data.buffer).set(raw);  // copy: the source may be unaligned
  } else {
    const values = { [F_FLOAT]: floats, [F_INT32]: int32s, [F_INT64]: int64s, [F_DOUBLE]: doubles }[dt.field];
    if (values.length !== count) {
      throw new Error(`TensorProto '${name}': ${values.length} values, shape [${shape}] needs ${count}`);
    }
    data = new dt.array(count);
    for (let i = 0; i < count; i++) {
      const v = values[i];
      if (dt.array === BigInt64Array) data[i] = toInt64(v);
      else if (typeof v === 'bigint') data[i] = Number(BigInt.asIntN(32, v));  // int32_data holds int32s
      else data[i] = v;
    }
  }
  return { name, type: dt.name, dims: shape, data };
}

class Writer {
  constructor() { this.parts = []; }
  varint(v) {
    let x = BigInt.asUintN(64, BigInt(v));
    const out = [];
    do {
      let b = Number(x & 0x7fn);
      x >>= 7n;
      if (x !== 0n) b |= 0x80;
      out.push(b);
    } while (x !== 0n);
    this.parts.push(Uint8Array.from(out));
  }
  key(field, wire) { this.varint((field << 3) | wire); }
  lengthDelimited(field, bytes) {
    this.key(field, 2);
    this.varint(bytes.length);
    this.parts.push(bytes);
  }
  finish() { return Buffer.concat(this.parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.length))); }
}

// Writes dims, data_type, name and raw_data (little-endian, which is what this host and
// the ONNX spec use), the way onnx.numpy_helper.from_array does.
function encode({ name, type, dims, data }) {
  const code = CODE_BY_NAME[type];
  if (code === undefined) throw new Error(`TensorProto '${name}': type ${type} is not supported`);
  const count = dims.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new Error(`TensorProto '${name}': ${data.length} values for shape [${dims}]`);
  const w = new Writer();
  for (const d of dims) { w.key(F_DIMS, 0); w.varint(d); }
  w.key(F_DATA_TYPE, 0); w.varint(code);
  if (name) w.lengthDelimited(F_NAME, Buffer.from(name, 'utf8'));
  w.lengthDelimited(F_RAW, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return w.finish();
}

module.exports = { decode, encode, DTYPES };
