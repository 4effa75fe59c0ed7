// Group-wise (block) quantization of a weight W [N, K] along K, each block with its own scale
// (and zero point when asymmetric); codes unsigned as MatMulNBits stores them,
// w ≈ (code - zp) * scale. Ranges: docs/quantization.md#weight-only-blocks-gptq-matmulnbits
//
//   BlockQuantized q = quantize_blocks_rtn(w_nk, {.bits = 4, .group_size = 32});  // symmetric int4
//   Tensor w_hat = dequantize(q);                                  // matmul_nbits_format.h
#pragma once

#include <tamp/compression/quantization/lowering/matmul_nbits_format.h>
#include <tamp/compression/quantization/qspec.h>

#include <cmath>
#include <vector>

namespace tamp::compression {

// The block size MatMulNBits stores `spec` with, for a weight with K input features: the
// group size, or for group_size 0 (one scale per output channel) the smallest power of two
// >= K, at least 16 and at most 256 (ORT 1.30's CPU kernel takes blocks of 16..256; a wider
// row repeats its one scale in every block). Throws (kInvalidInput) for bits other than 4
// and 8 and for group sizes that are not powers of two in 16..256.
int64_t block_size_for(const QuantSpec& spec, int64_t k);
// The columns sharing one scale: group_size, or K for group_size 0.
int64_t scale_group_for(const QuantSpec& spec, int64_t k);

// Per-row scale and zero point (unsigned code) of one block of columns.
struct BlockParams {
  std::vector<float> scale;         // [N]
  std::vector<int> zero_point;      // [N]
  int code_min = 0, code_max = 15;  // the code range (narrow range drops code 0)
};

// Parameters for columns [begin, end) of the row-major float matrix w [n, k] (rows are
// output channels). Throws (kNumerical) for NaN or infinite weights.
BlockParams block_params(const float* w, int64_t n, int64_t k, int64_t begin, int64_t end,
                         const QuantSpec& spec);

// clamp(round_half_to_even(w / scale) + zp, code_min, code_max): the code MatMulNBits stores.
inline int quantize_code(float w, const BlockParams& p, int64_t row) {
  const float q = std::nearbyint(w / p.scale[row]) + static_cast<float>(p.zero_point[row]);
  return q < p.code_min ? p.code_min : (q > p.code_max ? p.code_max : static_cast<int>(q));
}
// (code - zp) * scale.
inline float dequantize_code(int code, const BlockParams& p, int64_t row) {
  return static_cast<float>(code - p.zero_point[row]) * p.scale[row];
}

// RTN: every scale group quantized from its own range. w is float32 [N, K].
BlockQuantized quantize_blocks_rtn(const Tensor& w_nk, const QuantSpec& spec);

// w_kn [K, N] (a MatMul weight) transposed to [N, K] (MatMulNBits' orientation), as float32.
Tensor to_output_major(const Tensor& w_kn);

}  // namespace tamp::compression
