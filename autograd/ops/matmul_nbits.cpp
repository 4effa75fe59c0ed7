// MatMulNBits (domain com.microsoft, version 1): ONNX Runtime's weight-only quantized MatMul,
// Y = A * dequantize(B)^T (+ bias). Forward only: tamp runs it to evaluate weight-only
// exports and computes in float32 as ORT's default accuracy level does (dequantize, then
// SGEMM); accuracy_level 4 (ORT quantizes A to int8 on the fly) is not reproduced.
//
// Layout (ORT's contrib op schema), with k_blocks = ceil(K / block_size):
//   A            float32 [..., K]
//   B            uint8 [N, k_blocks, block_size * bits / 8]: row n of the weight (output
//                channel n), block by block; values packed little-end first (two 4-bit
//                values per byte, low nibble first; four 2-bit values per byte).
//   scales       float32 [N * k_blocks] or [N, k_blocks]
//   zero_points  optional uint8 [N * zp_bytes] or [N, zp_bytes], zp_bytes =
//                ceil(k_blocks * bits / 8), packed like B within each row; absent: 2^(bits-1)
//   g_idx        optional int32 [K] (or [k_blocks * block_size]): the block of column k
//                (act-order GPTQ); absent: k / block_size
//   bias         optional float32 [N]
// w[n, k] = (q[n, k] - zp[n, block(k)]) * scale[n, block(k)]; a last block that K does not
// fill is padding and is never read.
#include <tamp/autograd/kernels/gemm.h>
#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

#include <vector>

namespace tamp::ops {

namespace {

// The `bits`-wide value at index i of a little-end-first packed byte row.
inline int unpack_at(const uint8_t* row, int64_t i, int bits) {
  const int64_t bit = i * bits;
  return (row[bit >> 3] >> (bit & 7)) & ((1 << bits) - 1);
}

void check_shape(const Tensor& t, const char* name, DType dtype, int64_t rows, int64_t cols) {
  TAMP_CHECK(t.dtype() == dtype, "{} {} must be {}", name, describe(t), dtype_name(dtype));
  const bool ok = (t.rank() == 1 && t.dim(0) == rows * cols) ||
                  (t.rank() == 2 && t.dim(0) == rows && t.dim(1) == cols);
  TAMP_CHECK(ok, "{} {} must be [{}] or [{}, {}]", name, describe(t), rows * cols, rows, cols);
}

// K, N, bits and block_size, and the packed sizes they give.
struct NBitsLayout {
  int64_t k, n, bits, block;
  int64_t k_blocks() const { return (k + block - 1) / block; }
  int64_t blob() const { return block * bits / 8; }  // bytes per block of B
  int64_t zp_bytes() const { return (k_blocks() * bits + 7) / 8; }
};

NBitsLayout layout_of(const Attributes& at) {
  const NBitsLayout l{at.i("K", -1), at.i("N", -1), at.i("bits", -1), at.i("block_size", -1)};
  TAMP_CHECK(l.k > 0 && l.n > 0, "attributes K ({}) and N ({}) must be given and positive", l.k,
             l.n);
  TAMP_CHECK(l.bits == 2 || l.bits == 4 || l.bits == 8,
             "bits must be 2, 4 or 8 (as ONNX Runtime), got {}", l.bits);
  TAMP_CHECK(l.block >= 16 && (l.block & (l.block - 1)) == 0,
             "block_size must be a power of 2 and >= 16, got {}", l.block);
  return l;
}

// The scale block of every column: g_idx's (act-order GPTQ) or k / block_size.
std::vector<int64_t> block_of_columns(const NBitsLayout& l, const Tensor& g_idx) {
  std::vector<int64_t> block_of(static_cast<size_t>(l.k));
  for (int64_t c = 0; c < l.k; ++c) block_of[c] = c / l.block;
  if (!g_idx.defined()) return block_of;
  TAMP_CHECK(g_idx.dtype() == DType::kInt32 && g_idx.rank() == 1 &&
                 (g_idx.dim(0) == l.k || g_idx.dim(0) == l.k_blocks() * l.block),
             "g_idx {} must be int32[{}] or int32[{}]", describe(g_idx), l.k,
             l.k_blocks() * l.block);
  const int32_t* pg = g_idx.data<int32_t>();
  for (int64_t c = 0; c < l.k; ++c) {
    TAMP_CHECK(pg[c] >= 0 && pg[c] < l.k_blocks(), "g_idx[{}] = {} is outside [0, {})", c, pg[c],
               l.k_blocks());
    block_of[c] = pg[c];
  }
  return block_of;
}

void check_inputs(const NBitsLayout& l, const Tensor& a, const Tensor& b, const Tensor& scales,
                  const Tensor& zp, const Tensor& bias) {
  TAMP_CHECK(a.dtype() == DType::kFloat32, "A {} must be float32", describe(a));
  TAMP_CHECK(a.rank() >= 1 && a.shape().back() == l.k, "A {} must end in K = {}", describe(a), l.k);
  TAMP_CHECK(b.dtype() == DType::kUInt8 && b.shape() == Shape({l.n, l.k_blocks(), l.blob()}),
             "B {} must be uint8[{}, {}, {}] (N, ceil(K / block_size), block_size * bits / 8)",
             describe(b), l.n, l.k_blocks(), l.blob());
  check_shape(scales, "scales", DType::kFloat32, l.n, l.k_blocks());
  if (zp.defined()) {
    if (zp.dtype() != DType::kUInt8) {
      throw Error(
          fmt::format("zero_points {} of the scales' type are not supported (uint8 ones are)",
                      describe(zp)),
          ErrorKind::kUnsupported);
    }
    check_shape(zp, "zero_points", DType::kUInt8, l.n, l.zp_bytes());
  }
  if (bias.defined()) {
    TAMP_CHECK(bias.dtype() == DType::kFloat32 && bias.shape() == Shape({l.n}),
               "bias {} must be float32[{}]", describe(bias), l.n);
  }
}

// The dequantized weight, one output channel per row: (N, K).
Tensor dequantize_weight(const NBitsLayout& l, const Tensor& b, const Tensor& scales,
                         const Tensor& zp, const std::vector<int64_t>& block_of) {
  Tensor w = Tensor::empty({l.n, l.k});
  const uint8_t* pb = b.data<uint8_t>();
  const float* ps = scales.data<float>();
  const uint8_t* pz = zp.defined() ? zp.data<uint8_t>() : nullptr;
  float* pw = w.data<float>();
  const int bits = static_cast<int>(l.bits), default_zp = 1 << (bits - 1);
  const int64_t k = l.k, k_blocks = l.k_blocks(), blob = l.blob(), zp_bytes = l.zp_bytes();
  kernels::parallel_for(l.n, 8, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const uint8_t* row = pb + r * k_blocks * blob;
      for (int64_t c = 0; c < k; ++c) {
        const int64_t blk = block_of[c];
        // Column c sits at position c of the row's packed blocks even when g_idx
        // reassigns its scale.
        const int q = unpack_at(row, c, bits);
        const int z = pz ? unpack_at(pz + r * zp_bytes, blk, bits) : default_zp;
        pw[r * k + c] = static_cast<float>(q - z) * ps[r * k_blocks + blk];
      }
    }
  });
  return w;
}

std::vector<Tensor> matmul_nbits(OpContext& ctx, const std::vector<Tensor>& in) {
  const NBitsLayout l = layout_of(ctx.attrs());
  const Tensor& a = input(in, 0, "A");
  const Tensor& b = input(in, 1, "B");
  const Tensor& scales = input(in, 2, "scales");
  const Tensor zp = optional_input(in, 3), g_idx = optional_input(in, 4),
               bias = optional_input(in, 5);
  check_inputs(l, a, b, scales, zp, bias);
  const Tensor w = dequantize_weight(l, b, scales, zp, block_of_columns(l, g_idx));

  Shape out_shape = a.shape();
  out_shape.back() = l.n;
  check_output_size(out_shape, DType::kFloat32, "MatMulNBits output");
  Tensor y = Tensor::empty(out_shape);
  const int64_t m = a.numel() / l.k, n = l.n;
  float* py = y.data<float>();
  if (bias.defined()) {
    const float* pbias = bias.data<float>();
    for (int64_t i = 0; i < m; ++i) std::copy(pbias, pbias + n, py + i * n);
  }
  if (m > 0) {
    kernels::gemm(false, true, m, n, l.k, 1.0f, a.data<float>(), l.k, w.data<float>(), l.k,
                  bias.defined() ? 1.0f : 0.0f, py, n);
  }
  return {y};
}

}  // namespace

OpDef matmul_nbits_op() { return {"com.microsoft", "MatMulNBits", 1, &matmul_nbits, nullptr}; }

}  // namespace tamp::ops
