// FakeQuantize runs (fake_quant.h), compiled once per instruction set.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tamp/autograd/kernels/fake_quant.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>
#include <tamp/autograd/kernels/dispatch.h>
#include <tamp/autograd/kernels/fake_quant.h>
#include <tamp/autograd/kernels/simd_inl.h>

#include <cmath>

HWY_BEFORE_NAMESPACE();
namespace tamp::kernels::HWY_NAMESPACE {

void fake_quantize_run_f32(const float* x, float* y, uint8_t* mask, int64_t n, FakeQuantRun p) {
  using S = Simd<float>;
  using V = S::Vec;
  const S::D d;
  const V s = hn::Set(d, p.scale), z = hn::Set(d, p.zero_point), qmin = hn::Set(d, p.qmin),
          qmax = hn::Set(d, p.qmax);
  int64_t i = 0;
  for (; i + S::kLanes <= n; i += S::kLanes) {
    const V q = hn::Add(hn::Round(hn::Div(S::load(x + i), s)), z);
    // Compares, not Min/Max, so that NaN stays NaN as in the scalar definition.
    const auto below = hn::Lt(q, qmin), above = hn::Gt(q, qmax);
    const V clamped = hn::IfThenElse(below, qmin, hn::IfThenElse(above, qmax, q));
    S::store(y + i, hn::Mul(hn::Sub(clamped, z), s));
    if (mask) {
      uint8_t bits[8] = {};  // one bit per lane
      hn::StoreMaskBits(d, hn::And(hn::Ge(q, qmin), hn::Le(q, qmax)), bits);
      for (int lane = 0; lane < S::kLanes; ++lane)
        mask[i + lane] = (bits[lane / 8] >> (lane % 8)) & 1;
    }
  }
  for (; i < n; ++i) {
    const float q =
        std::nearbyint(x[i] / p.scale) + p.zero_point;  // quantize_value before its clamp
    y[i] = ((q < p.qmin ? p.qmin : (q > p.qmax ? p.qmax : q)) - p.zero_point) * p.scale;
    if (mask) mask[i] = static_cast<uint8_t>((q >= p.qmin) & (q <= p.qmax));
  }
}

}  // namespace tamp::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tamp::kernels {

HWY_EXPORT(fake_quantize_run_f32);

void fake_quantize_run(const float* x, float* y, uint8_t* mask, int64_t n, FakeQuantRun p) {
  TAMP_DISPATCH(fake_quantize_run_f32)(x, y, mask, n, p);
}

}  // namespace tamp::kernels
#endif  // HWY_ONCE
