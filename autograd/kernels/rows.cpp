// The row kernels of rows.h, compiled once per instruction set (simd_inl.h). Each walks a
// row in whole vectors and finishes its tail through a partial vector whose missing lanes
// take a neutral value (-inf for a maximum, 0 for a sum).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tamp/autograd/kernels/rows.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>
#include <tamp/autograd/kernels/dispatch.h>
#include <tamp/autograd/kernels/rows.h>
#include <tamp/autograd/kernels/simd_inl.h>
#include <tamp/autograd/kernels/simd_math_inl.h>

#include <cmath>

HWY_BEFORE_NAMESPACE();
namespace tamp::kernels::HWY_NAMESPACE {
namespace {

using S = Simd<float>;
using V = S::Vec;

// f(i, lanes) over a row of n values (Simd::for_vectors).
template <class F> void for_vectors(int64_t n, F&& f) { S::for_vectors(0, n, f); }

float row_max(const float* x, int64_t n) {
  const V lowest = S::set1(-HUGE_VALF);
  V m = lowest;
  for_vectors(n, [&](int64_t i, int64_t lanes) HWY_ATTR {
    m = hn::Max(m, S::first_or(S::load_first(x + i, lanes), lanes, lowest));
  });
  return hn::GetLane(hn::MaxOfLanes(S::D(), m));
}

}  // namespace

void softmax_rows_f32(const float* x, float* y, int64_t rows, int64_t n, bool log) {
  for (int64_t r = 0; r < rows; ++r, x += n, y += n) {
    const V m = S::set1(row_max(x, n));
    V sum = S::zero();
    for_vectors(n, [&](int64_t i, int64_t lanes) HWY_ATTR {
      const V e =
          S::first_or(math::exp_all(hn::Sub(S::load_first(x + i, lanes), m)), lanes, S::zero());
      if (!log) S::store_first(y + i, e, lanes);
      sum = hn::Add(sum, e);
    });
    const float total = S::sum(sum);
    if (log) {
      const V shift = hn::Add(m, S::set1(std::log(total)));
      for_vectors(n, [&](int64_t i, int64_t lanes) HWY_ATTR {
        S::store_first(y + i, hn::Sub(S::load_first(x + i, lanes), shift), lanes);
      });
    } else {
      const V inv = S::set1(1.0f / total);
      for_vectors(n, [&](int64_t i, int64_t lanes) HWY_ATTR {
        S::store_first(y + i, hn::Mul(S::load_first(y + i, lanes), inv), lanes);
      });
    }
  }
}

void softmax_rows_backward_f32(const float* y, const float* g, float* dx, int64_t rows, int64_t n,
                               bool log) {
  for (int64_t r = 0; r < rows; ++r, y += n, g += n, dx += n) {
    V acc = S::zero();
    for_vectors(n, [&](int64_t i, int64_t lanes) HWY_ATTR {
      const V gv = S::load_first(g + i, lanes);
      acc = log ? hn::Add(acc, gv) : hn::MulAdd(gv, S::load_first(y + i, lanes), acc);
    });
    const V s = S::set1(S::sum(acc));
    for_vectors(n, [&](int64_t i, int64_t lanes) HWY_ATTR {
      const V yv = S::load_first(y + i, lanes), gv = S::load_first(g + i, lanes);
      const V d = log ? hn::NegMulAdd(math::exp_all(yv), s, gv) : hn::Mul(yv, hn::Sub(gv, s));
      S::store_first(dx + i, d, lanes);
    });
  }
}

void layer_norm_rows_f32(const float* x, const float* scale, const float* bias, float eps, float* y,
                         float* mean, float* rstd, int64_t rows, int64_t n) {
  const float inv_n = n > 0 ? 1.0f / static_cast<float>(n) : 0.0f;
  for (int64_t r = 0; r < rows; ++r, x += n, y += n) {
    V acc = S::zero();
    for_vectors(n, [&](int64_t i, int64_t lanes)
                       HWY_ATTR { acc = hn::Add(acc, S::load_first(x + i, lanes)); });
    const float mu = S::sum(acc) * inv_n;
    const V m = S::set1(mu);
    acc = S::zero();
    for_vectors(n, [&](int64_t i, int64_t lanes) HWY_ATTR {
      const V c = S::first_or(hn::Sub(S::load_first(x + i, lanes), m), lanes, S::zero());
      acc = hn::MulAdd(c, c, acc);
    });
    const float rs = 1.0f / std::sqrt(S::sum(acc) * inv_n + eps);
    mean[r] = mu;
    rstd[r] = rs;
    const V vr = S::set1(rs);
    for_vectors(n, [&](int64_t i, int64_t lanes) HWY_ATTR {
      V v = hn::Mul(hn::Mul(hn::Sub(S::load_first(x + i, lanes), m), vr),
                    S::load_first(scale + i, lanes));
      if (bias) v = hn::Add(v, S::load_first(bias + i, lanes));
      S::store_first(y + i, v, lanes);
    });
  }
}

void layer_norm_rows_backward_f32(const float* x, const float* scale, const float* mean,
                                  const float* rstd, const float* dy, float* dx, int64_t rows,
                                  int64_t n) {
  const float inv_n = n > 0 ? 1.0f / static_cast<float>(n) : 0.0f;
  for (int64_t r = 0; r < rows; ++r, x += n, dy += n, dx += n) {
    const V m = S::set1(mean[r]), vr = S::set1(rstd[r]);
    V sum_gs = S::zero(), sum_gsx = S::zero();
    for_vectors(n, [&](int64_t i, int64_t lanes) HWY_ATTR {
      const V gs = hn::Mul(S::load_first(dy + i, lanes), S::load_first(scale + i, lanes));
      const V xhat =
          S::first_or(hn::Mul(hn::Sub(S::load_first(x + i, lanes), m), vr), lanes, S::zero());
      sum_gs = hn::Add(sum_gs, gs);
      sum_gsx = hn::MulAdd(gs, xhat, sum_gsx);
    });
    const V m1 = S::set1(S::sum(sum_gs) * inv_n), m2 = S::set1(S::sum(sum_gsx) * inv_n);
    for_vectors(n, [&](int64_t i, int64_t lanes) HWY_ATTR {
      const V gs = hn::Mul(S::load_first(dy + i, lanes), S::load_first(scale + i, lanes));
      const V xhat = hn::Mul(hn::Sub(S::load_first(x + i, lanes), m), vr);
      S::store_first(dx + i, hn::Mul(vr, hn::NegMulAdd(xhat, m2, hn::Sub(gs, m1))), lanes);
    });
  }
}

void row_sums_f32(const float* x, float* out, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r, x += n) {
    V acc = S::zero();
    for_vectors(n, [&](int64_t i, int64_t lanes)
                       HWY_ATTR { acc = hn::Add(acc, S::load_first(x + i, lanes)); });
    out[r] = S::sum(acc);
  }
}

void add_rows_f32(const float* x, int64_t stride, float* out, int64_t rows, int64_t n) {
  for_vectors(n, [&](int64_t i, int64_t lanes) HWY_ATTR {
    V acc = S::load_first(out + i, lanes);
    for (int64_t r = 0; r < rows; ++r) acc = hn::Add(acc, S::load_first(x + r * stride + i, lanes));
    S::store_first(out + i, acc, lanes);
  });
}

}  // namespace tamp::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tamp::kernels {

HWY_EXPORT(softmax_rows_f32);
HWY_EXPORT(softmax_rows_backward_f32);
HWY_EXPORT(layer_norm_rows_f32);
HWY_EXPORT(layer_norm_rows_backward_f32);
HWY_EXPORT(row_sums_f32);
HWY_EXPORT(add_rows_f32);

void row_sums(const float* x, float* out, int64_t rows, int64_t n) {
  TAMP_DISPATCH(row_sums_f32)(x, out, rows, n);
}

void add_rows(const float* x, int64_t stride, float* out, int64_t rows, int64_t n) {
  TAMP_DISPATCH(add_rows_f32)(x, stride, out, rows, n);
}

void softmax_rows(const float* x, float* y, int64_t rows, int64_t n, bool log) {
  TAMP_DISPATCH(softmax_rows_f32)(x, y, rows, n, log);
}

void softmax_rows_backward(const float* y, const float* g, float* dx, int64_t rows, int64_t n,
                           bool log) {
  TAMP_DISPATCH(softmax_rows_backward_f32)(y, g, dx, rows, n, log);
}

void layer_norm_rows(const float* x, const float* scale, const float* bias, float eps, float* y,
                     float* mean, float* rstd, int64_t rows, int64_t n) {
  TAMP_DISPATCH(layer_norm_rows_f32)(x, scale, bias, eps, y, mean, rstd, rows, n);
}

void layer_norm_rows_backward(const float* x, const float* scale, const float* mean,
                              const float* rstd, const float* dy, float* dx, int64_t rows,
                              int64_t n) {
  TAMP_DISPATCH(layer_norm_rows_backward_f32)(x, scale, mean, rstd, dy, dx, rows, n);
}

}  // namespace tamp::kernels
#endif  // HWY_ONCE
