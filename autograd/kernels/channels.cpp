// The channel kernels of channels.h, compiled once per instruction set (simd_inl.h). Each run
// is walked in whole vectors and finished through a partial vector whose missing lanes are
// zero, so they add nothing to the sums; sums are flushed to double every kFlush values.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tamp/autograd/kernels/channels.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>
#include <tamp/autograd/kernels/channels.h>
#include <tamp/autograd/kernels/dispatch.h>
#include <tamp/autograd/kernels/simd_inl.h>

HWY_BEFORE_NAMESPACE();
namespace tamp::kernels::HWY_NAMESPACE {
namespace {

using S = Simd<float>;
using V = S::Vec;

// f(i, lanes) for every vector of every run of the channel (Simd::for_vectors).
template <class F> void for_channel(const Strided& ch, F&& f) {
  for (int64_t r = 0; r < ch.runs; ++r) S::for_vectors(r * ch.stride, r * ch.stride + ch.len, f);
}

// Values summed in float lanes before the partial sum moves to double: short runs (the late
// layers of a CNN on small images have 1x1 to 4x4 planes) share a vector across runs instead
// of paying a horizontal sum each.
constexpr int64_t kFlush = 1024;

// Sums `term(offset, lanes)` (one vector per call) over the channel: float lanes for up to
// kFlush values, then double.
template <class F> double run_sums(const Strided& ch, F&& term) {
  double total = 0;
  V acc = S::zero();
  int64_t pending = 0;
  for (int64_t r = 0; r < ch.runs; ++r) {
    S::for_vectors(r * ch.stride, r * ch.stride + ch.len,
                   [&](int64_t i, int64_t lanes) HWY_ATTR { acc = hn::Add(acc, term(i, lanes)); });
    pending += ch.len;
    if (pending >= kFlush) {
      total += static_cast<double>(S::sum(acc));
      acc = S::zero();
      pending = 0;
    }
  }
  return total + static_cast<double>(S::sum(acc));
}

}  // namespace

double strided_sum_f32(const float* x, const Strided& ch) {
  return run_sums(ch,
                  [&](int64_t o, int64_t lanes) HWY_ATTR { return S::load_first(x + o, lanes); });
}

double strided_centered_squares_f32(const float* x, const Strided& ch, float mu) {
  const V m = S::set1(mu);
  return run_sums(ch, [&](int64_t o, int64_t lanes) HWY_ATTR {
    const V d = S::first_or(hn::Sub(S::load_first(x + o, lanes), m), lanes, S::zero());
    return hn::Mul(d, d);
  });
}

void strided_affine_f32(const float* x, float* y, const Strided& ch, float a, float b) {
  const V va = S::set1(a), vb = S::set1(b);
  for_channel(ch, [&](int64_t o, int64_t lanes) HWY_ATTR {
    S::store_first(y + o, hn::MulAdd(S::load_first(x + o, lanes), va, vb), lanes);
  });
}

std::pair<double, double> strided_grad_sums_f32(const float* g, const float* x, const Strided& ch,
                                                float mu) {
  const V m = S::set1(mu);
  // Two sums in one pass over memory: the lanes of g * (x - mu) ride in a second accumulator
  // that run_sums cannot carry, so this keeps its own flush.
  double sg = 0, sgx = 0;
  V acc_g = S::zero(), acc_gx = S::zero();
  int64_t pending = 0;
  for (int64_t r = 0; r < ch.runs; ++r) {
    S::for_vectors(r * ch.stride, r * ch.stride + ch.len, [&](int64_t i, int64_t lanes) HWY_ATTR {
      const V gv = S::load_first(g + i, lanes);  // zero past the run: no term there
      acc_g = hn::Add(acc_g, gv);
      acc_gx = hn::MulAdd(gv, hn::Sub(S::load_first(x + i, lanes), m), acc_gx);
    });
    pending += ch.len;
    if (pending >= kFlush || r + 1 == ch.runs) {
      sg += static_cast<double>(S::sum(acc_g));
      sgx += static_cast<double>(S::sum(acc_gx));
      acc_g = acc_gx = S::zero();
      pending = 0;
    }
  }
  return {sg, sgx};
}

void strided_affine_grad_f32(const float* g, const float* x, float* dx, const Strided& ch, float mu,
                             float alpha, float beta, float gamma) {
  const V m = S::set1(mu), va = S::set1(alpha), vb = S::set1(beta), vc = S::set1(gamma);
  for_channel(ch, [&](int64_t o, int64_t lanes) HWY_ATTR {
    V d = hn::MulAdd(hn::Sub(S::load_first(x + o, lanes), m), vb, vc);
    if (g) d = hn::MulAdd(S::load_first(g + o, lanes), va, d);
    S::store_first(dx + o, d, lanes);
  });
}

}  // namespace tamp::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tamp::kernels {

HWY_EXPORT(strided_sum_f32);
HWY_EXPORT(strided_centered_squares_f32);
HWY_EXPORT(strided_affine_f32);
HWY_EXPORT(strided_grad_sums_f32);
HWY_EXPORT(strided_affine_grad_f32);

double strided_sum(const float* x, const Strided& ch) {
  return TAMP_DISPATCH(strided_sum_f32)(x, ch);
}

double strided_centered_squares(const float* x, const Strided& ch, float mu) {
  return TAMP_DISPATCH(strided_centered_squares_f32)(x, ch, mu);
}

void strided_affine(const float* x, float* y, const Strided& ch, float a, float b) {
  TAMP_DISPATCH(strided_affine_f32)(x, y, ch, a, b);
}

std::pair<double, double> strided_grad_sums(const float* g, const float* x, const Strided& ch,
                                            float mu) {
  return TAMP_DISPATCH(strided_grad_sums_f32)(g, x, ch, mu);
}

void strided_affine_grad(const float* g, const float* x, float* dx, const Strided& ch, float mu,
                         float alpha, float beta, float gamma) {
  TAMP_DISPATCH(strided_affine_grad_f32)(g, x, dx, ch, mu, alpha, beta, gamma);
}

}  // namespace tamp::kernels
#endif  // HWY_ONCE
