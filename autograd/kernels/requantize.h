// Internal: the int32 sums of the integer ops back to 8 bits (QLinearConv, QLinearMatMul), as
// ONNX Runtime computes it: y = saturate(round_half_to_even(float(acc + bias[c]) *
// multiplier[c]) + zero_point), the sum wrapping as int32 and the product in float. On the
// best instruction set of the CPU (simd_target.h).
//
//   kernels::requantize(acc, n, m, out_size, {bias, multipliers, true, 128, false}, y);
#pragma once

#include <cstdint>

namespace tamp::kernels {

struct Requantization {
  const int32_t* bias;       // (channels), or null
  const float* multipliers;  // (channels), or one for every channel (per_channel false)
  bool per_channel;
  int32_t zero_point;
  bool is_signed;  // int8 output, else uint8
};

// y (outer, channels, inner) 8-bit from acc of that shape; channel c of acc's element
// (o, c, i) picks bias[c] and multipliers[c].
void requantize(const int32_t* acc, int64_t outer, int64_t channels, int64_t inner,
                const Requantization& r, void* y);

}  // namespace tamp::kernels
