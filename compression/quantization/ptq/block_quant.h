// Group-wise (block) quantization of a weight matrix along its reduction axis, the scheme of
// weight-only quantization: each output channel n of W [N, K] is cut into blocks of
// `group_size` columns along K, each with its own scale (and zero point when asymmetric).
// Round-to-nearest (RTN) is quantize_blocks_rtn; GPTQ (gptq.h) uses the same per-block
// parameters and codes but chooses them column by column with error feedback.
//
//   QuantSpec spec{.bits = 4, .group_size = 32};                   // symmetric int4
//   BlockQuantized q = quantize_blocks_rtn(w_nk, spec);            // codes, scales
//   Tensor w_hat = dequantize(q);                                  // matmul_nbits_format.h
//
// Codes are unsigned, as MatMulNBits stores them: w ≈ (code - zp) * scale.
//  - symmetric: the signed range [-2^(b-1), 2^(b-1) - 1] shifted by zp = 2^(b-1) (ORT's
//    implicit zero point); scale = max|w| / (2^(b-1) - 1), as choose_qparams picks it.
//  - asymmetric: [0, 2^b - 1] with zp = -round(min / scale), scale = (max - min) / (2^b - 1),
//    the range first widened to contain 0 (choose_qparams).
// spec.is_signed is ignored (implied by spec.symmetric); narrow_range and power_of_two apply.
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
  std::vector<float> scale;     // [N]
  std::vector<int> zero_point;  // [N]
  int code_min = 0, code_max = 15;  // the code range (narrow range drops code 0)
};

// Parameters for columns [begin, end) of the row-major float matrix w [n, k] (rows are
// output channels). Throws (kNumerical) for NaN or infinite weights.
BlockParams block_params(const float* w, int64_t n, int64_t k, int64_t begin, int64_t end, const QuantSpec& spec);

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
