// Internal: the fp32 FakeQuantize forward over one run of elements that share a scale and a
// zero point, on the CPU's best instruction set (simd_inl.h), bit for bit what
// quantize.h's scalar quantize_value gives (the same float division and round-half-to-even).
//
//   kernels::fake_quantize_run(x, y, mask, n, {.scale = s, .zero_point = z, .qmin = 0, .qmax =
//   255});
#pragma once

#include <cstdint>

namespace tamp::kernels {

struct FakeQuantRun {
  float scale = 1, zero_point = 0, qmin = 0, qmax = 255;
};

// y[i] = (clamp(round_half_to_even(x[i] / s) + z, qmin, qmax) - z) * s for i < n; mask (if not
// null) gets 1 where the unclamped value lay inside [qmin, qmax], else 0 (NaN: 0, y NaN).
void fake_quantize_run(const float* x, float* y, uint8_t* mask, int64_t n, FakeQuantRun p);

}  // namespace tamp::kernels
