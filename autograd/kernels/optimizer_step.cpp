// The optimizer updates of optimizer_step.h, compiled once per instruction set (simd_inl.h):
// whole vectors, then the tail through a partial vector.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tamp/autograd/kernels/optimizer_step.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>
#include <tamp/autograd/kernels/dispatch.h>
#include <tamp/autograd/kernels/optimizer_step.h>
#include <tamp/autograd/kernels/simd_inl.h>

HWY_BEFORE_NAMESPACE();
namespace tamp::kernels::HWY_NAMESPACE {
using S = Simd<float>;
using V = S::Vec;

void sgd_step_f32(float* p, const float* g, float* buf, int64_t begin, int64_t end,
                  const SgdStep& s, bool first) {
  const V lr = S::set1(s.lr), wd = S::set1(s.weight_decay), mu = S::set1(s.momentum),
          keep = S::set1(s.keep);
  S::for_vectors(begin, end, [&](int64_t i, int64_t lanes) HWY_ATTR {
    const V pv = S::load_first(p + i, lanes);
    const V d = hn::MulAdd(wd, pv, S::load_first(g + i, lanes));
    V step = d;
    if (buf) {
      const V b = first ? d : hn::MulAdd(mu, S::load_first(buf + i, lanes), hn::Mul(keep, d));
      S::store_first(buf + i, b, lanes);
      step = s.nesterov ? hn::MulAdd(mu, b, d) : b;
    }
    S::store_first(p + i, hn::NegMulAdd(lr, step, pv), lanes);
  });
}

void adam_step_f32(float* p, const float* g, float* m, float* v, float* vmax, int64_t begin,
                   int64_t end, const AdamStep& s) {
  const V b1 = S::set1(s.beta1), b2 = S::set1(s.beta2), c1 = S::set1(1 - s.beta1),
          c2 = S::set1(1 - s.beta2);
  const V l2 = S::set1(s.l2), decay = S::set1(s.decay_factor), step_size = S::set1(s.step_size);
  const V inv_sqrt_bc2 = S::set1(s.inv_sqrt_bc2), eps = S::set1(s.eps);
  S::for_vectors(begin, end, [&](int64_t i, int64_t lanes) HWY_ATTR {
    const V pv = hn::Mul(S::load_first(p + i, lanes), decay);
    const V d = hn::MulAdd(l2, pv, S::load_first(g + i, lanes));
    const V mv = hn::MulAdd(b1, S::load_first(m + i, lanes), hn::Mul(c1, d));
    V vv = hn::MulAdd(b2, S::load_first(v + i, lanes), hn::Mul(hn::Mul(c2, d), d));
    S::store_first(m + i, mv, lanes);
    S::store_first(v + i, vv, lanes);
    if (vmax) {
      vv = hn::Max(S::load_first(vmax + i, lanes), vv);
      S::store_first(vmax + i, vv, lanes);
    }
    const V denom = hn::MulAdd(hn::Sqrt(vv), inv_sqrt_bc2, eps);
    S::store_first(p + i, hn::NegMulAdd(step_size, hn::Div(mv, denom), pv), lanes);
  });
}

}  // namespace tamp::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tamp::kernels {

HWY_EXPORT(sgd_step_f32);
HWY_EXPORT(adam_step_f32);

void sgd_step(float* p, const float* g, float* buf, int64_t begin, int64_t end, const SgdStep& s,
              bool first) {
  TAMP_DISPATCH(sgd_step_f32)(p, g, buf, begin, end, s, first);
}

void adam_step(float* p, const float* g, float* m, float* v, float* vmax, int64_t begin,
               int64_t end, const AdamStep& s) {
  TAMP_DISPATCH(adam_step_f32)(p, g, m, v, vmax, begin, end, s);
}

}  // namespace tamp::kernels
#endif  // HWY_ONCE
