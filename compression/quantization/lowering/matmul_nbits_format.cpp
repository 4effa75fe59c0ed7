#include <tamp/compression/quantization/lowering/matmul_nbits_format.h>

namespace tamp::compression {

namespace {

// Writes `value` (bits wide) at index i of a little-end-first packed byte row.
void pack_at(uint8_t* row, int64_t i, int bits, int value) {
  const int64_t bit = i * bits;
  row[bit >> 3] = static_cast<uint8_t>(row[bit >> 3] | (value << (bit & 7)));
}

int unpack_at(const uint8_t* row, int64_t i, int bits) {
  const int64_t bit = i * bits;
  return (row[bit >> 3] >> (bit & 7)) & ((1 << bits) - 1);
}

int64_t zp_bytes(int64_t k_blocks, int bits) { return (k_blocks * bits + 7) / 8; }

void check_block_quantized(const BlockQuantized& q) {
  check_matmul_nbits_format(q.bits, q.block_size);
  TAMP_CHECK(q.q.defined() && q.q.dtype() == DType::kUInt8 && q.q.rank() == 2,
             "block-quantized values must be uint8 [N, K], got {}",
             q.q.defined() ? describe(q.q) : "none");
  TAMP_CHECK(q.n() > 0 && q.k() > 0, "block-quantized weight {} is empty", describe(q.q));
  const Shape params{q.n(), q.k_blocks()};
  TAMP_CHECK(
      q.scales.defined() && q.scales.dtype() == DType::kFloat32 && q.scales.shape() == params,
      "scales must be float32 {}, got {}", to_string(params),
      q.scales.defined() ? describe(q.scales) : "none");
  if (q.zero_points.defined()) {
    TAMP_CHECK(q.zero_points.dtype() == DType::kUInt8 && q.zero_points.shape() == params,
               "zero points must be uint8 {}, got {}", to_string(params), describe(q.zero_points));
  }
  const int top = (1 << q.bits) - 1;
  const auto check_range = [&](const Tensor& t, const char* what) {
    const uint8_t* p = t.data<uint8_t>();
    for (int64_t i = 0; i < t.numel(); ++i) {
      TAMP_CHECK(p[i] <= top, "{} [{}] = {} does not fit in {} bits", what, i, p[i], q.bits);
    }
  };
  check_range(q.q, "quantized value");
  if (q.zero_points.defined()) check_range(q.zero_points, "zero point");
}

}  // namespace

void check_matmul_nbits_format(int bits, int64_t block_size) {
  TAMP_CHECK(bits == 4 || bits == 8, "MatMulNBits export supports 4 and 8 bits, got {}", bits);
  TAMP_CHECK(block_size >= 16 && block_size <= 256 && (block_size & (block_size - 1)) == 0,
             "MatMulNBits needs a block (group) size that is a power of two in 16..256 (what ONNX "
             "Runtime's CPU "
             "kernel takes), got {}",
             block_size);
}

MatMulNBitsWeights pack_matmul_nbits(const BlockQuantized& q) {
  check_block_quantized(q);
  const int64_t n = q.n(), k = q.k(), kb = q.k_blocks(), blob = q.block_size * q.bits / 8;
  MatMulNBitsWeights w;
  w.k = k;
  w.n = n;
  w.bits = q.bits;
  w.block_size = q.block_size;
  w.b = Tensor::zeros({n, kb, blob}, DType::kUInt8);
  w.scales = q.scales.clone().reshape({n * kb});
  const uint8_t* pq = q.q.data<uint8_t>();
  const uint8_t* pz = q.zero_points.defined() ? q.zero_points.data<uint8_t>() : nullptr;
  const int default_zp = 1 << (q.bits - 1);
  uint8_t* pb = w.b.data<uint8_t>();
  for (int64_t r = 0; r < n; ++r) {
    uint8_t* row = pb + r * kb * blob;  // the row's blocks are contiguous: index c is column c
    for (int64_t c = 0; c < kb * q.block_size; ++c) {
      const int zp = pz ? pz[r * kb + c / q.block_size] : default_zp;
      pack_at(row, c, q.bits, c < k ? pq[r * k + c] : zp);
    }
  }
  if (pz) {
    const int64_t bytes = zp_bytes(kb, q.bits);
    w.zero_points = Tensor::zeros({n * bytes}, DType::kUInt8);
    uint8_t* pzo = w.zero_points.data<uint8_t>();
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t blk = 0; blk < kb; ++blk)
        pack_at(pzo + r * bytes, blk, q.bits, pz[r * kb + blk]);
    }
  }
  return w;
}

BlockQuantized unpack_matmul_nbits(const MatMulNBitsWeights& w) {
  check_matmul_nbits_format(w.bits, w.block_size);
  const int64_t kb = (w.k + w.block_size - 1) / w.block_size, blob = w.block_size * w.bits / 8;
  TAMP_CHECK(w.b.defined() && w.b.dtype() == DType::kUInt8 && w.b.shape() == Shape({w.n, kb, blob}),
             "B must be uint8 [{}, {}, {}], got {}", w.n, kb, blob,
             w.b.defined() ? describe(w.b) : "none");
  TAMP_CHECK(
      w.scales.defined() && w.scales.dtype() == DType::kFloat32 && w.scales.numel() == w.n * kb,
      "scales must be float32 with {} values, got {}", w.n * kb,
      w.scales.defined() ? describe(w.scales) : "none");
  BlockQuantized q;
  q.bits = w.bits;
  q.block_size = w.block_size;
  q.q = Tensor::empty({w.n, w.k}, DType::kUInt8);
  q.scales = w.scales.clone().reshape({w.n, kb});
  const uint8_t* pb = w.b.data<uint8_t>();
  uint8_t* pq = q.q.data<uint8_t>();
  for (int64_t r = 0; r < w.n; ++r) {
    for (int64_t c = 0; c < w.k; ++c)
      pq[r * w.k + c] = static_cast<uint8_t>(unpack_at(pb + r * kb * blob, c, w.bits));
  }
  if (w.zero_points.defined()) {
    const int64_t bytes = zp_bytes(kb, w.bits);
    TAMP_CHECK(w.zero_points.dtype() == DType::kUInt8 && w.zero_points.numel() == w.n * bytes,
               "zero_points must be uint8 with {} bytes, got {}", w.n * bytes,
               describe(w.zero_points));
    q.zero_points = Tensor::empty({w.n, kb}, DType::kUInt8);
    const uint8_t* pz = w.zero_points.data<uint8_t>();
    uint8_t* pzq = q.zero_points.data<uint8_t>();
    for (int64_t r = 0; r < w.n; ++r) {
      for (int64_t blk = 0; blk < kb; ++blk)
        pzq[r * kb + blk] = static_cast<uint8_t>(unpack_at(pz + r * bytes, blk, w.bits));
    }
  }
  return q;
}

Tensor dequantize(const BlockQuantized& q) {
  check_block_quantized(q);
  const int64_t n = q.n(), k = q.k(), kb = q.k_blocks();
  Tensor w = Tensor::empty({n, k});
  const uint8_t* pq = q.q.data<uint8_t>();
  const uint8_t* pz = q.zero_points.defined() ? q.zero_points.data<uint8_t>() : nullptr;
  const float* ps = q.scales.data<float>();
  float* pw = w.data<float>();
  const int default_zp = 1 << (q.bits - 1);
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < k; ++c) {
      const int64_t blk = r * kb + c / q.block_size;
      // (q - zp) is a small integer, exact in float: one rounding, as ORT.
      pw[r * k + c] =
          static_cast<float>(int{pq[r * k + c]} - (pz ? int{pz[blk]} : default_zp)) * ps[blk];
    }
  }
  return w;
}

Tensor dequantize(const MatMulNBitsWeights& w) { return dequantize(unpack_matmul_nbits(w)); }

}  // namespace tamp::compression
