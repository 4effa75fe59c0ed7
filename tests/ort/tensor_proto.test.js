'use strict';
// node --test tests/ort/: the TensorProto codec against files written by onnx's
// numpy_helper / make_tensor, and ONNX Runtime against the PyTorch output fixtures.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const { decode, encode } = require('./tensor_proto');

const dataDir = path.join(__dirname, '..', 'data');
const samplesDir = path.join(dataDir, 'tensor_proto');
const samples = JSON.parse(fs.readFileSync(path.join(samplesDir, 'samples.json'), 'utf8'));

function expectedValue(type, v) {
  if (type === 'int64') return BigInt(v);
  if (type === 'bool') return v ? 1 : 0;
  if (v === 'inf') return Infinity;
  if (v === '-inf') return -Infinity;
  if (type === 'float32') return Math.fround(v);
  return v;
}

for (const [key, sample] of Object.entries(samples)) {
  for (const file of sample.files) {
    test(`decodes ${file}`, () => {
      const t = decode(fs.readFileSync(path.join(samplesDir, file)));
      assert.strictEqual(t.type, sample.type);
      assert.deepStrictEqual(t.dims, sample.dims);
      assert.strictEqual(t.name, file.replace(/\.pb$/, ''));
      const want = sample.values.map((v) => expectedValue(sample.type, v));
      assert.deepStrictEqual(Array.from(t.data), want);  // deepStrictEqual tells -0 from 0
    });
  }
  test(`${key}: encode then decode gives the tensor back, as raw_data`, () => {
    const t = decode(fs.readFileSync(path.join(samplesDir, sample.files[1])));
    const back = decode(encode({ ...t, name: 'x' }));
    assert.deepStrictEqual({ ...back, data: Array.from(back.data) }, { ...t, name: 'x', data: Array.from(t.data) });
    assert.strictEqual(back.data.constructor, t.data.constructor);
  });
}

test('encode writes the bytes numpy_helper.from_array writes', () => {
  for (const key of ['float32', 'int64', 'uint8', 'float16']) {
    const raw = fs.readFileSync(path.join(samplesDir, `${key}_raw.pb`));
    const t = decode(raw);
    assert.ok(Buffer.compare(encode(t), raw) === 0, key);
  }
});

test('rejects data shorter than its shape', () => {
  const t = decode(fs.readFileSync(path.join(samplesDir, 'float32_raw.pb')));
  const bytes = encode({ ...t, dims: [7] , data: new Float32Array(7) });
  const truncated = bytes.subarray(0, bytes.length - 4);
  assert.throws(() => decode(truncated), /runs past the end|raw_data has/);
  const lying = encode({ name: 'x', type: 'float32', dims: [2], data: new Float32Array(2) });
  lying[1] = 3;  // dims[0] = 2 -> 3: the raw data no longer covers the shape
  assert.throws(() => decode(lying), /raw_data has 8 bytes/);
});

test('rejects an unsupported data type', () => {
  const bytes = Buffer.from([0x08, 0x01, 0x10, 0x08]);  // dims [1], data_type STRING
  assert.throws(() => decode(bytes), /data_type 8 is not supported/);
});

let ortInstalled = true;
try { require.resolve('onnxruntime-node'); } catch (e) { ortInstalled = false; }

for (const model of ['mlp', 'cnn', 'cnn_bn', 'cnn_wide', 'transformer']) {
  test(`ONNX Runtime reproduces torch's eval output of ${model}.onnx`, { skip: !ortInstalled && 'run tests/ort/setup.sh' }, () => {
    const fixtureDir = path.join(dataDir, 'fixtures', model);
    const index = JSON.parse(fs.readFileSync(path.join(fixtureDir, 'index.json'), 'utf8'));
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), `ort-${model}-`));
    try {
      execFileSync(process.execPath, [path.join(__dirname, 'run_ort.js'), path.join(dataDir, index.eval_model),
        '--input', `input=${path.join(fixtureDir, index.input.file)}`, '--output-dir', outDir]);
      const got = decode(fs.readFileSync(path.join(outDir, 'logits.pb')));
      const want = decode(fs.readFileSync(path.join(fixtureDir, index.eval_output.file)));
      assert.deepStrictEqual(got.dims, want.dims);
      const scale = Math.max(...Array.from(want.data, Math.abs));
      for (let i = 0; i < want.data.length; i++) {
        assert.ok(Math.abs(got.data[i] - want.data[i]) <= 1e-4 * scale,
          `logits[${i}]: ORT ${got.data[i]}, torch ${want.data[i]}`);
      }
    } finally {
      fs.rmSync(outDir, { recursive: true, force: true });
    }
  });
}
