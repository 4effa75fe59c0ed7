// Internal: ONNX QuantizeLinear numerics, shared by QuantizeLinear/DequantizeLinear and the
// training-time FakeQuantize, so that what training simulates is what ONNX Runtime computes:
//   q = saturate(round_half_to_even(x / s) + zp),   x' = (q - zp) * s
// The division is done in float, as ONNX Runtime does (not a multiplication by 1/s).
#pragma once

#include <cmath>
#include <cstdint>

namespace tamp::kernels {

// round_half_to_even(x / s) + zp, clamped to [qmin, qmax], as a float holding an integer.
inline float quantize_value(float x, float scale, float zero_point, float qmin, float qmax) {
  float q = std::nearbyint(x / scale) + zero_point;
  return q < qmin ? qmin : (q > qmax ? qmax : q);
}
inline double quantize_value(double x, double scale, double zero_point, double qmin, double qmax) {
  double q = std::nearbyint(x / scale) + zero_point;
  return q < qmin ? qmin : (q > qmax ? qmax : q);
}

// Per-axis layout of a quantization parameter: element i of x uses parameter
// (i / inner) % channels; per-tensor is channels = 1.
struct QuantLayout {
  int64_t channels = 1;
  int64_t inner = 1;
  int64_t channel_of(int64_t i) const { return channels == 1 ? 0 : (i / inner) % channels; }
};

}  // namespace tamp::kernels
