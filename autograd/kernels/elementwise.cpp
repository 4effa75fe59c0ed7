// The activation kernels of elementwise.h, compiled once per instruction set (simd_inl.h).
// NaN inputs give what the scalar definitions in ops/unary.cpp give (NaN, or 0 for Relu),
// so non-finite losses are still seen.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tamp/autograd/kernels/elementwise.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>
#include <tamp/autograd/kernels/dispatch.h>
#include <tamp/autograd/kernels/elementwise.h>
#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/kernels/simd_inl.h>
#include <tamp/autograd/kernels/simd_math_inl.h>

#include <limits>

HWY_BEFORE_NAMESPACE();
namespace tamp::kernels::HWY_NAMESPACE {
namespace {

using S = Simd<float>;
using V = S::Vec;
using math::clamp01;
using math::erf;
using math::exp_all;
using math::keep_nan;
using math::sigmoid;
using math::tame;

constexpr int64_t kGrain = 32768;  // elements per thread before splitting pays

// y[i] = f(x[i]): whole vectors, then the tail through a partial vector.
template <class F> void map1(const float* x, float* y, int64_t n, F f) {
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) HWY_ATTR {
    int64_t i = begin;
    for (; i + S::kLanes <= end; i += S::kLanes) S::store(y + i, f(S::load(x + i)));
    if (i < end) S::store_first(y + i, f(S::load_first(x + i, end - i)), end - i);
  });
}

// dx[i] = f(s[i], g[i]).
template <class F> void map2(const float* s, const float* g, float* dx, int64_t n, F f) {
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) HWY_ATTR {
    int64_t i = begin;
    for (; i + S::kLanes <= end; i += S::kLanes)
      S::store(dx + i, f(S::load(s + i), S::load(g + i)));
    if (i < end)
      S::store_first(dx + i, f(S::load_first(s + i, end - i), S::load_first(g + i, end - i)),
                     end - i);
  });
}

// Gelu and its derivative at x: x * Phi(x) with Phi(x) = (1 + erf(x / sqrt 2)) / 2, and
// Phi(x) + x * pdf(x).
struct ValueAndSlope {
  V value, slope;
};
ValueAndSlope gelu(V x) {
  const S::D d;
  const V half = hn::Set(d, 0.5f);
  const V phi = math::normal_cdf(x);
  const V t = tame(x, -20.0f, 20.0f);
  const V pdf =
      hn::Mul(hn::Set(d, 0.39894228040143268f), hn::Exp(d, hn::Mul(hn::Neg(half), hn::Mul(t, t))));
  return {hn::Mul(x, phi), keep_nan(x, hn::MulAdd(x, pdf, phi))};
}

// The tanh approximation: x (1 + tanh(u)) / 2 with u = sqrt(2 / pi) (x + 0.044715 x^3), written
// with s = (1 + tanh(u)) / 2 = 1 / (1 + exp(-2u)) and 1 - s = exp(-2u) s so that neither tail
// cancels: value x s, slope s + 2 x s (1 - s) u'.
ValueAndSlope gelu_tanh(V x) {
  const S::D d;
  const V one = hn::Set(d, 1.0f), k = hn::Set(d, 0.79788456080286536f);
  // Past |x| = 10 the slope is 1 or 0 in float: x is tamed there so that x^3 stays finite.
  const V xt = tame(x, -10.0f, 10.0f), x2 = hn::Mul(xt, xt);
  const V u = hn::Mul(k, hn::MulAdd(hn::Mul(hn::Set(d, 0.044715f), x2), xt, xt));
  const V e = hn::Exp(d, hn::Mul(hn::Set(d, -2.0f), u));
  const V s = hn::Div(one, hn::Add(one, e)), rest = hn::Mul(e, s);  // s and 1 - s
  const V du = hn::Mul(k, hn::MulAdd(hn::Set(d, 3 * 0.044715f), x2, one));
  const V slope = hn::MulAdd(hn::Mul(hn::Add(xt, xt), hn::Mul(s, rest)), du, s);
  // At +-inf the definition's 0 * inf gives NaN, which the kernel keeps.
  const V nan = hn::Set(d, std::numeric_limits<float>::quiet_NaN());
  const V s_of_x = hn::IfThenElseZero(hn::Ge(x, hn::Set(d, -10.0f)), s);  // 0 where x^3 was tamed
  return {keep_nan(x, hn::Mul(x, s_of_x)), hn::IfThenElse(hn::IsFinite(x), slope, nan)};
}

}  // namespace

void unary_forward_f32(Unary f, UnaryParams p, const float* x, float* y, int64_t n) {
  const S::D d;
  const V zero = hn::Zero(d), alpha = hn::Set(d, p.alpha), beta = hn::Set(d, p.beta);
  switch (f) {
    case Unary::kRelu:  // max(x, 0) takes 0 for NaN, as the scalar x > 0 ? x : 0 does
      return map1(x, y, n, [&](V v) HWY_ATTR { return hn::Max(v, zero); });
    case Unary::kLeakyRelu:
      return map1(x, y, n, [&](V v) HWY_ATTR {
        return hn::IfThenElse(hn::Ge(v, zero), v, hn::Mul(alpha, v));
      });
    case Unary::kSigmoid:
      return map1(x, y, n, [&](V v) HWY_ATTR { return sigmoid(v); });
    case Unary::kTanh:
      return map1(x, y, n,
                  [&](V v) HWY_ATTR { return keep_nan(v, hn::Tanh(d, tame(v, -20.0f, 20.0f))); });
    case Unary::kExp:
      return map1(x, y, n, [&](V v) HWY_ATTR { return exp_all(v); });
    case Unary::kErf:
      return map1(x, y, n, [&](V v) HWY_ATTR { return erf(v); });
    case Unary::kHardSigmoid:
      return map1(x, y, n,
                  [&](V v) HWY_ATTR { return keep_nan(v, clamp01(hn::MulAdd(alpha, v, beta))); });
    case Unary::kHardSwish: {
      const V sixth = hn::Set(d, 1.0f / 6.0f), half = hn::Set(d, 0.5f);
      return map1(x, y, n, [&](V v) HWY_ATTR {
        return keep_nan(v, hn::Mul(v, clamp01(hn::MulAdd(v, sixth, half))));
      });
    }
    case Unary::kGelu:
      if (p.alpha != 0) return map1(x, y, n, [&](V v) HWY_ATTR { return gelu_tanh(v).value; });
      return map1(x, y, n, [&](V v) HWY_ATTR { return gelu(v).value; });
    case Unary::kClip:  // the compares of v < lo ? lo : v, then a > hi ? hi : a: NaN stays NaN
      return map1(x, y, n, [&](V v) HWY_ATTR {
        const V a = hn::IfThenElse(hn::Lt(v, alpha), alpha, v);
        return hn::IfThenElse(hn::Gt(a, beta), beta, a);
      });
  }
}

void unary_backward_f32(Unary f, UnaryParams p, const float* saved, const float* dy, float* dx,
                        int64_t n) {
  const S::D d;
  const V zero = hn::Zero(d), one = hn::Set(d, 1.0f), alpha = hn::Set(d, p.alpha),
          beta = hn::Set(d, p.beta);
  switch (f) {
    case Unary::kRelu:  // dy * (y > 0 ? 1 : 0): a NaN dy stays NaN, as in the scalar product
      return map2(saved, dy, dx, n, [&](V y, V g) HWY_ATTR {
        return hn::Mul(g, hn::IfThenElseZero(hn::Gt(y, zero), one));
      });
    case Unary::kLeakyRelu:
      return map2(saved, dy, dx, n, [&](V x, V g) HWY_ATTR {
        return hn::Mul(g, hn::IfThenElse(hn::Ge(x, zero), one, alpha));
      });
    case Unary::kSigmoid:
      return map2(saved, dy, dx, n,
                  [&](V y, V g) HWY_ATTR { return hn::Mul(g, hn::Mul(y, hn::Sub(one, y))); });
    case Unary::kTanh:
      return map2(saved, dy, dx, n,
                  [&](V y, V g) HWY_ATTR { return hn::Mul(g, hn::NegMulAdd(y, y, one)); });
    case Unary::kExp:
      return map2(saved, dy, dx, n, [&](V y, V g) HWY_ATTR { return hn::Mul(g, y); });
    case Unary::kErf: {
      const V two_over_sqrt_pi = hn::Set(d, 1.1283791670955126f);
      return map2(saved, dy, dx, n, [&](V x, V g) HWY_ATTR {
        const V t = tame(x, -10.0f, 10.0f);  // exp(-100) is 0 in float
        return hn::Mul(g,
                       keep_nan(x, hn::Mul(two_over_sqrt_pi, hn::Exp(d, hn::Neg(hn::Mul(t, t))))));
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
        const V slope = hn::IfThenElse(hn::Lt(x, hn::Neg(three)), zero,
                                       hn::IfThenElse(hn::Gt(x, three), one, inside));
        return hn::Mul(g, slope);
      });
    }
    case Unary::kGelu:
      if (p.alpha != 0)
        return map2(saved, dy, dx, n,
                    [&](V x, V g) HWY_ATTR { return hn::Mul(g, gelu_tanh(x).slope); });
      return map2(saved, dy, dx, n, [&](V x, V g) HWY_ATTR { return hn::Mul(g, gelu(x).slope); });
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

void unary_backward(Unary f, UnaryParams p, const float* saved, const float* dy, float* dx,
                    int64_t n) {
  TAMP_DISPATCH(unary_backward_f32)(f, p, saved, dy, dx, n);
}

}  // namespace tamp::kernels
#endif  // HWY_ONCE
