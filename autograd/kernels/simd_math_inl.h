// Internal: per-target math on fp32 vectors shared by the kernel files (exp over the whole
// float range, erf, sigmoid), re-included once per target like simd_inl.h. NaN inputs give
// NaN (keep_nan), as the ops' scalar definitions do.
#if defined(TAMP_AUTOGRAD_KERNELS_SIMD_MATH_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TAMP_AUTOGRAD_KERNELS_SIMD_MATH_INL_H_
#undef TAMP_AUTOGRAD_KERNELS_SIMD_MATH_INL_H_
#else
#define TAMP_AUTOGRAD_KERNELS_SIMD_MATH_INL_H_
#endif

#include <hwy/contrib/math/math-inl.h>
#include <hwy/highway.h>
#include <tamp/autograd/kernels/simd_inl.h>

#include <cmath>

HWY_BEFORE_NAMESPACE();
namespace tamp::kernels::HWY_NAMESPACE {
namespace math {

using S = Simd<float>;
using V = S::Vec;

inline V keep_nan(V x, V r) { return hn::IfThenElse(hn::IsNaN(x), x, r); }

// x with NaN as 0, clamped to [lo, hi]: what Highway's Exp and Tanh may be given (they
// convert to integers inside, which is undefined for NaN and infinities on the portable
// target). Callers put NaN back with keep_nan.
inline V tame(V x, float lo, float hi) {
  const S::D d;
  const V v = hn::IfThenElseZero(hn::Not(hn::IsNaN(x)), x);
  return hn::Min(hn::Max(v, hn::Set(d, lo)), hn::Set(d, hi));
}

// exp(x) over the whole float range: Highway's Exp is exact to 1 ulp up to the overflow
// threshold; above it the result is +inf, below -104 it is 0.
inline V exp_all(V x) {
  const S::D d;
  const float limit = 88.72283f;
  const V e = hn::Exp(d, tame(x, -104.0f, limit));
  return keep_nan(x, hn::IfThenElse(hn::Gt(x, hn::Set(d, limit)), hn::Set(d, HUGE_VALF), e));
}

// The two pieces of tamp's erf fit (relative error below 2e-8 of the exact value before
// rounding): erf(a) = a P(a^2) for 0 <= a <= 0.9, and erfc(a) = exp(-a^2) R(1 / (1 + a / 2))
// for 0.9 <= a <= 3.92 (beyond, erf rounds to 1 in float).
inline V erf_small(V a) {
  const S::D d;
  const V u = hn::Mul(a, a);
  V p = hn::Set(d, -6.122645088e-04f);
  for (float c : {5.018991900e-03f, -2.678440870e-02f, 1.128232484e-01f, -3.761254711e-01f,
                  1.128379161e+00f}) {
    p = hn::MulAdd(p, u, hn::Set(d, c));
  }
  return hn::Mul(p, a);
}
inline V erfc_large(V a) {
  const S::D d;
  const V t = hn::Div(hn::Set(d, 1.0f), hn::MulAdd(a, hn::Set(d, 0.5f), hn::Set(d, 1.0f)));
  V r = hn::Set(d, -5.007146611e-02f);
  for (float c : {-6.711600507e-02f, 4.152007702e-01f, 9.429462432e-02f, 3.332265551e-01f,
                  2.731863237e-01f, 6.387433549e-04f}) {
    r = hn::MulAdd(r, t, hn::Set(d, c));
  }
  return hn::Mul(hn::Exp(d, hn::Neg(hn::Mul(a, a))), r);
}

inline V erf(V x) {
  const S::D d;
  const V a = hn::Abs(tame(x, -3.92f, 3.92f));
  const V one = hn::Set(d, 1.0f);
  const V magnitude =
      hn::IfThenElse(hn::Le(a, hn::Set(d, 0.9f)), erf_small(a), hn::Sub(one, erfc_large(a)));
  return keep_nan(x, hn::CopySign(magnitude, x));
}

// Phi(x) = (1 + erf(x / sqrt 2)) / 2, the normal CDF; for x < 0 as erfc(|x| / sqrt 2) / 2, so
// that the far left tail keeps its relative precision (1 + erf would cancel). Past |x| = 14
// the tail is 0 in float (R's fit is extrapolated between 5.5 and 14, within a few % of a
// tail below 1e-8).
inline V normal_cdf(V x) {
  const S::D d;
  const V a = hn::Mul(hn::Abs(tame(x, -14.0f, 14.0f)), hn::Set(d, 0.70710678118654752f));
  const V half = hn::Set(d, 0.5f), one = hn::Set(d, 1.0f);
  const V erfc_a =
      hn::IfThenElse(hn::Le(a, hn::Set(d, 0.9f)), hn::Sub(one, erf_small(a)), erfc_large(a));
  const V tail = hn::IfThenElseZero(hn::Le(hn::Abs(x), hn::Set(d, 14.0f)),
                                    hn::Mul(half, erfc_a));  // Phi(-|x|)
  return keep_nan(x, hn::IfThenElse(hn::Lt(x, hn::Zero(d)), tail, hn::Sub(one, tail)));
}

inline V sigmoid(V x) {
  const S::D d;
  const V e = hn::Exp(d, tame(hn::Neg(x), -104.0f, 88.0f));
  return keep_nan(x, hn::Div(hn::Set(d, 1.0f), hn::Add(hn::Set(d, 1.0f), e)));
}

inline V clamp01(V v) {
  const S::D d;
  return hn::Min(hn::Max(v, hn::Zero(d)), hn::Set(d, 1.0f));
}

}  // namespace math
}  // namespace tamp::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // TAMP_AUTOGRAD_KERNELS_SIMD_MATH_INL_H_ toggle
