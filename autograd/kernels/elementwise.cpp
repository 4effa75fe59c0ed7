// The activation kernels of elementwise.h, compiled once per instruction set (simd_inl.h).
// NaN inputs give what the scalar definitions in ops/unary.cpp give (NaN, or 0 for Relu),
// so non-finite losses are still seen.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tamp/autograd/kernels/elementwise.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/contrib/math/math-inl.h>
#include <hwy/highway.h>
#include <tamp/autograd/kernels/dispatch.h>
#include <tamp/autograd/kernels/elementwise.h>
#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/kernels/simd_inl.h>

#include <cmath>

HWY_BEFORE_NAMESPACE();
namespace tamp::kernels::HWY_NAMESPACE {
namespace {

using S = Simd<float>;
using V = S::Vec;

constexpr int64_t kGrain = 32768;  // elements per thread before splitting pays

// y[i] = f(x[i]): whole vectors, then the tail through a partial vector.
template <class F>
void map1(const float* x, float* y, int64_t n, F f) {
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) HWY_ATTR {
    int64_t i = begin;
    for (; i + S::kLanes <= end; i += S::kLanes) S::store(y + i, f(S::load(x + i)));
    if (i < end) S::store_first(y + i, f(S::load_first(x + i, end - i)), end - i);
  });
}

// dx[i] = f(s[i], g[i]).
template <class F>
void map2(const float* s, const float* g, float* dx, int64_t n, F f) {
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) HWY_ATTR {
    int64_t i = begin;
    for (; i + S::kLanes <= end; i += S::kLanes) S::store(dx + i, f(S::load(s + i), S::load(g + i)));
    if (i < end) S::store_first(dx + i, f(S::load_first(s + i, end - i), S::load_first(g + i, end - i)), end - i);
  });
}

V keep_nan(V x, V r) { return hn::IfThenElse(hn::IsNaN(x), x, r); }

// x with NaN as 0, clamped to [lo, hi]: what Highway's Exp and Tanh may be given (they
// convert to integers inside, which is undefined for NaN and infinities on the portable
// target). Callers put NaN back with keep_nan.
V tame(V x, float lo, float hi) {
  const S::D d;
  const V v = hn::IfThenElseZero(hn::Not(hn::IsNaN(x)), x);
  return hn::Min(hn::Max(v, hn::Set(d, lo)), hn::Set(d, hi));
}

// exp(x) over the whole float range: Highway's Exp is exact to 1 ulp up to the overflow
// threshold; above it the result is +inf, below -104 it is 0.
V exp_all(V x) {
  const S::D d;
  const float limit = 88.72283f;
  const V e = hn::Exp(d, tame(x, -104.0f, limit));
  return keep_nan(x, hn::IfThenElse(hn::Gt(x, hn::Set(d, limit)), hn::Set(d, HUGE_VALF), e));
}

// erf(x), relative error below 2e-8 of the exact value before rounding (fitted for tamp:
// x * P(x^2) up to |x| = 0.9, 1 - exp(-x^2) R(1 / (1 + |x| / 2)) beyond, 1 past 3.92).
V erf(V x) {
  const S::D d;
  const V ax = hn::Abs(tame(x, -3.92f, 3.92f));
  const V u = hn::Mul(ax, ax);
  V p = hn::Set(d, -6.122645088e-04f);
  for (float c : {5.018991900e-03f, -2.678440870e-02f, 1.128232484e-01f, -3.761254711e-01f, 1.128379161e+00f}) {
    p = hn::MulAdd(p, u, hn::Set(d, c));
  }
  const V small = hn::Mul(p, ax);
  const V t = hn::Div(hn::Set(d, 1.0f), hn::MulAdd(ax, hn::Set(d, 0.5f), hn::Set(d, 1.0f)));
  V r = hn::Set(d, -5.007146611e-02f);
  for (float c : {-6.711600507e-02f, 4.152007702e-01f, 9.429462432e-02f, 3.332265551e-01f, 2.731863237e-01f,
                  6.387433549e-04f}) {
    r = hn::MulAdd(r, t, hn::Set(d, c));
  }
  const V large = hn::NegMulAdd(hn::Exp(d, hn::Neg(u)), r, hn::Set(d, 1.0f));
  const V magnitude = hn::IfThenElse(hn::Le(ax, hn::Set(d, 0.9f)), small, large);
  return keep_nan(x, hn::CopySign(magnitude, x));
}

V sigmoid(V x) {
  const S::D d;
  const V e = hn::Exp(d, tame(hn::Neg(x), -104.0f, 88.0f));
  return keep_nan(x, hn::Div(hn::Set(d, 1.0f), hn::Add(hn::Set(d, 1.0f), e)));
}

V clamp01(V v) {
  const S::D d;
  return hn::Min(hn::Max(v, hn::Zero(d)), hn::Set(d, 1.0f));
}

}  // namespace

void unary_forward_f32(Unary f, UnaryParams p, const float* x, float* y, int64_t n) {
  const S::D d;
  const V zero = hn::Zero(d), alpha = hn::Set(d, p.alpha), beta = hn::Set(d, p.beta);
  switch (f) {
    case Unary::kRelu:  // max(x, 0) takes 0 for NaN, as the scalar x > 0 ? x : 0 does
      return map1(x, y, n, [&](V v) HWY_ATTR { return hn::Max(v, zero); });
    case Unary::kLeakyRelu:
      return map1(x, y, n, [&](V v) HWY_ATTR { return hn::IfThenElse(hn::Ge(v, zero), v, hn::Mul(alpha, v)); });
    case Unary::kSigmoid:
      return map1(x, y, n, [&](V v) HWY_ATTR { return sigmoid(v); });
    case Unary::kTanh:
      return map1(x, y, n, [&](V v) HWY_ATTR { return keep_nan(v, hn::Tanh(d, tame(v, -20.0f, 20.0f))); });
    case Unary::kExp:
      return map1(x, y, n, [&](V v) HWY_ATTR { return exp_all(v); });
    case Unary::kErf:
      return map1(x, y, n, [&](V v) HWY_ATTR { return erf(v); });
    case Unary::kHardSigmoid:
      return map1(x, y, n, [&](V v) HWY_ATTR { return keep_nan(v, clamp01(hn::MulAdd(alpha, v, beta))); });
    case Unary::kHardSwish: {
      const V sixth = hn::Set(d, 1.0f / 6.0f), half = hn::Set(d, 0.5f);
      return map1(x, y, n, [&](V v) HWY_ATTR { return keep_nan(v, hn::Mul(v, clamp01(hn::MulAdd(v, sixth, half)))); });
    }
    case Unary::kClip:  // the compares of v < lo ? lo : v, then a > hi ? hi : a: NaN stays NaN
      return map1(x, y, n, [&](V v) HWY_ATTR {
        const V a = hn::IfThenElse(hn::Lt(v, alpha), alpha, v);
        return hn::IfThenElse(hn::Gt(a, beta), beta, a);
      });
  }
}

void unary_backward_f32(Unary f, UnaryParams p, const float* saved, const float* dy, float* dx, int64_t n) {
  const S::D d;
  const V zero = hn::Zero(d), one = hn::Set(d, 1.0f), alpha = hn::Set(d, p.alpha), beta = hn::Set(d, p.beta);
  switch (f) {
    case Unary::kRelu:  // dy * (y > 0 ? 1 : 0): a NaN dy stays NaN, as in the scalar product
      return map2(saved, dy, dx, n, [&](V y, V g) HWY_ATTR { return hn::Mul(g, hn::IfThenElseZero(hn::Gt(y, zero), one)); });
    case Unary::kLeakyRelu:
      return map2(saved, dy, dx, n, [&](V x, V g) HWY_ATTR { return hn::Mul(g, hn::IfThenElse(hn::Ge(x, zero), one, alpha)); });
    case Unary::kSigmoid:
      return map2(saved, dy, dx, n, [&](V y, V g) HWY_ATTR { return hn::Mul(g, hn::Mul(y, hn::Sub(one, y))); });
    case Unary::kTanh:
      return map2(saved, dy, dx, n, [&](V y, V g) HWY_ATTR { return hn::Mul(g, hn::NegMulAdd(y, y, one)); });
    case Unary::kExp:
      return map2(saved, dy, dx, n, [&](V y, V g) HWY_ATTR { return hn::Mul(g, y); });
    case Unary::kErf: {
      const V two_over_sqrt_pi = hn::Set(d, 1.1283791670955126f);
      return map2(saved, dy, dx, n, [&](V x, V g) HWY_ATTR {
        const V t = tame(x, -10.0f, 10.0f);  // exp(-100) is 0 in float
        return hn::Mul(g, keep_nan(x, hn::Mul(two_over_sqrt_pi, hn::Exp(d, hn::Neg(hn::Mul(t, t))))));
      });
    }
    case Unary::kHardSigmoid:
      return map2(saved, dy, dx, n, [&](V x, V g) HWY_ATTR {
        const V v = hn::MulAdd(alpha, x, beta);
        return hn::Mul(g, hn::IfThenElseZero(hn::And(hn::Gt(v, zero), hn::Lt(v, one)), alpha));
      });
    case Unary::kHardSwish: {
      const V three = hn::Set(d, 3.0f), third = hn::Set(d, 1.0f / 3.0f), half = hn::Set(d, 0.5f);
      return map2(saved, dy, dx, n, [&](V x, V g) HWY_ATTR {
        const V inside = hn::MulAdd(x, third, half);  // (2x + 3) / 6
        const V slope = hn::IfThenElse(hn::Lt(x, hn::Neg(three)), zero, hn::IfThenElse(hn::Gt(x, three), one, inside));
        return hn::Mul(g, slope);
      });
    }
    case Unary::kClip:
      return map2(saved, dy, dx, n, [&](V x, V g) HWY_ATTR {
        return hn::IfThenElseZero(hn::And(hn::Ge(x, alpha), hn::Le(x, beta)), g);
      });
  }
}

}  // namespace tamp::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tamp::kernels {

HWY_EXPORT(unary_forward_f32);
HWY_EXPORT(unary_backward_f32);

void unary_forward(Unary f, UnaryParams p, const float* x, float* y, int64_t n) {
  TAMP_DISPATCH(unary_forward_f32)(f, p, x, y, n);
}

void unary_backward(Unary f, UnaryParams p, const float* saved, const float* dy, float* dx, int64_t n) {
  TAMP_DISPATCH(unary_backward_f32)(f, p, saved, dy, dx, n);
}

}  // namespace tamp::kernels
#endif  // HWY_ONCE
