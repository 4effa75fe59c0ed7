// InstanceNormalization and GroupNormalization over X (N, C, D1, ..., Dn): the channels fall
// into groups (one per channel for InstanceNormalization, num_groups for GroupNormalization),
// each (sample, group) is normalised to zero mean and unit variance, then every channel is
// scaled and shifted. GroupNormalization's scale and bias hold one value per group at opsets
// 18-20 and one per channel from opset 21 (ONNX changed the meaning); a per-group one is
// repeated over its channels here and its gradient summed back. Statistics are accumulated in
// double.
#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

#include <cmath>

namespace tamp::ops {

namespace {

struct Saved {
  Tensor x, scale, mean, rstd;
};

struct Geometry {
  int64_t n, c, groups, s;  // X as (N, C, S), C in `groups` groups of contiguous channels
  int64_t rows() const { return n * groups; }
  int64_t row_len() const { return c / groups * s; }
};

Geometry geometry(const Tensor& x, int64_t groups) {
  TAMP_CHECK(x.rank() >= 2, "X {} must be (N, C, D1, ...)", describe(x));
  const Geometry g{x.dim(0), x.dim(1), groups, numel(x.shape(), 2, x.rank())};
  TAMP_CHECK(groups > 0 && g.c % groups == 0, "num_groups {} must divide the {} channels of X {}",
             groups, g.c, describe(x));
  return g;
}

// InstanceNormalization: a group per channel; GroupNormalization: num_groups.
int64_t groups_of(const OpContext& ctx, const Tensor& x, bool instance) {
  if (instance) return x.rank() >= 2 ? x.dim(1) : 1;
  TAMP_CHECK(ctx.attrs().has("num_groups"), "attribute num_groups is required");
  return ctx.attrs().i("num_groups");
}

// True when scale and bias hold one value per group (GroupNormalization before opset 21).
bool per_group(const OpContext& ctx, bool instance) { return !instance && ctx.opset < 21; }

// `t` ([C], or [groups] when per_group) as one value per channel.
Tensor per_channel(const Tensor& t, const Tensor& x, const Geometry& g, bool groups,
                   const char* name) {
  expect_same_dtype(x, t, name);
  const int64_t want = groups ? g.groups : g.c;
  TAMP_CHECK(t.rank() == 1 && t.dim(0) == want,
             "{} {} must have shape [{}] (one value per {} of X {})", name, describe(t), want,
             groups ? "group" : "channel", describe(x));
  if (!groups) return t;
  return dispatch_float(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    Tensor out = Tensor::empty({g.c}, t.dtype());
    const int64_t per = g.c / g.groups;
    for (int64_t c = 0; c < g.c; ++c) out.data<T>()[c] = t.data<T>()[c / per];
    return out;
  });
}

template <class T> void forward_kernel(const Geometry& g, double eps, const T* x, const T* scale,
                                       const T* bias, T* y, T* mean, T* rstd) {
  const int64_t len = g.row_len(), per = g.c / g.groups;
  kernels::parallel_for(g.rows(), std::max<int64_t>(1, 8192 / std::max<int64_t>(len, 1)),
                        [&](int64_t r0, int64_t r1) {
                          for (int64_t r = r0; r < r1; ++r) {
                            const T* xr = x + r * len;
                            double sum = 0, sq = 0;
                            for (int64_t i = 0; i < len; ++i) sum += xr[i];
                            const double mu = len ? sum / static_cast<double>(len) : 0.0;
                            for (int64_t i = 0; i < len; ++i) sq += (xr[i] - mu) * (xr[i] - mu);
                            const double rs =
                                1.0 / std::sqrt((len ? sq / static_cast<double>(len) : 0.0) + eps);
                            mean[r] = static_cast<T>(mu);
                            rstd[r] = static_cast<T>(rs);
                            const int64_t c0 = (r % g.groups) * per;
                            for (int64_t k = 0; k < per; ++k) {
                              const double a = rs * static_cast<double>(scale[c0 + k]),
                                           b = static_cast<double>(bias[c0 + k]);
                              for (int64_t i = k * g.s; i < (k + 1) * g.s; ++i) {
                                y[r * len + i] = static_cast<T>((xr[i] - mu) * a + b);
                              }
                            }
                          }
                        });
}

template <bool kInstance>
std::vector<Tensor> norm_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "X");
  const Geometry g = geometry(x, groups_of(ctx, x, kInstance));
  const bool groups = per_group(ctx, kInstance);
  const Tensor scale = per_channel(input(in, 1, "scale"), x, g, groups, "scale");
  const Tensor bias = per_channel(input(in, 2, "B"), x, g, groups, "B");
  const float eps = ctx.attrs().f("epsilon", 1e-5f);
  TAMP_CHECK(eps >= 0 && std::isfinite(eps), "epsilon must be finite and >= 0, got {}", eps);
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  Tensor mean = Tensor::empty({g.rows()}, x.dtype()), rstd = Tensor::empty({g.rows()}, x.dtype());
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    forward_kernel<T>(g, eps, x.data<T>(), scale.data<T>(), bias.data<T>(), y.data<T>(),
                      mean.data<T>(), rstd.data<T>());
  });
  if (ctx.any_grad()) ctx.save(Saved{x, scale, mean, rstd});
  return {y};
}

// With xhat = (x - mean) * rstd and gs = dY * scale per row of the (sample, group):
//   dX = rstd * (gs - mean(gs) - xhat * mean(gs * xhat)),
// dscale and dB per channel: sums over samples and positions of dY * xhat and dY, taken per
// (sample, channel) first and then over the samples in order (thread-count independent).
template <class T> void backward_kernel(const Geometry& g, const T* x, const T* scale,
                                        const T* mean, const T* rstd, const T* gy, T* dx,
                                        double* dscale_nc, double* db_nc) {
  const int64_t len = g.row_len(), per = g.c / g.groups;
  kernels::parallel_for(g.rows(), std::max<int64_t>(1, 8192 / std::max<int64_t>(len, 1)),
                        [&](int64_t r0, int64_t r1) {
                          for (int64_t r = r0; r < r1; ++r) {
                            const T* xr = x + r * len;
                            const T* gr = gy + r * len;
                            const int64_t c0 = (r % g.groups) * per,
                                          nc0 = r * per;  // first channel, first (n, c) index
                            const double mu = mean[r], rs = rstd[r];
                            double sum_gs = 0, sum_gs_xhat = 0;
                            for (int64_t k = 0; k < per; ++k) {
                              double ds = 0, db = 0;
                              for (int64_t i = k * g.s; i < (k + 1) * g.s; ++i) {
                                const double xhat = (xr[i] - mu) * rs, gv = gr[i];
                                ds += gv * xhat;
                                db += gv;
                              }
                              dscale_nc[nc0 + k] = ds;
                              db_nc[nc0 + k] = db;
                              sum_gs += db * static_cast<double>(scale[c0 + k]);
                              sum_gs_xhat += ds * static_cast<double>(scale[c0 + k]);
                            }
                            if (!dx) continue;
                            const double m1 = len ? sum_gs / static_cast<double>(len) : 0.0;
                            const double m2 = len ? sum_gs_xhat / static_cast<double>(len) : 0.0;
                            for (int64_t k = 0; k < per; ++k) {
                              const double sc = scale[c0 + k];
                              for (int64_t i = k * g.s; i < (k + 1) * g.s; ++i) {
                                const double xhat = (xr[i] - mu) * rs;
                                dx[r * len + i] =
                                    static_cast<T>(rs * (gr[i] * sc - m1 - xhat * m2));
                              }
                            }
                          }
                        });
}

// Per-(n, c) sums reduced over n to one value per channel, or per group when `groups`.
Tensor channel_sums(const std::vector<double>& nc, const Geometry& g, bool groups, DType dtype) {
  const int64_t per = g.c / g.groups;
  Tensor out = Tensor::zeros({groups ? g.groups : g.c}, DType::kFloat64);
  double* o = out.data<double>();
  for (int64_t n = 0; n < g.n; ++n) {
    for (int64_t c = 0; c < g.c; ++c)
      o[groups ? c / per : c] += nc[static_cast<size_t>(n * g.c + c)];
  }
  return out.to(dtype);
}

template <bool kInstance>
std::vector<Tensor> norm_backward(OpContext& ctx, const std::vector<Tensor>& grads) {
  const Saved& saved = ctx.saved_as<Saved>();
  const auto& x = saved.x;
  const auto& scale = saved.scale;
  const auto& mean = saved.mean;
  const auto& rstd = saved.rstd;
  const Geometry g = geometry(x, kInstance ? x.dim(1) : ctx.attrs().i("num_groups"));
  const bool groups = per_group(ctx, kInstance);
  if (!grads[0].defined()) return {Tensor(), Tensor(), Tensor()};
  Tensor dx = ctx.needs_grad[0] ? Tensor::empty(x.shape(), x.dtype()) : Tensor();
  std::vector<double> dscale_nc(static_cast<size_t>(g.n * g.c)), db_nc(dscale_nc.size());
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    backward_kernel<T>(g, x.data<T>(), scale.data<T>(), mean.data<T>(), rstd.data<T>(),
                       grads[0].data<T>(), dx.defined() ? dx.data<T>() : nullptr, dscale_nc.data(),
                       db_nc.data());
  });
  return {dx, ctx.needs_grad[1] ? channel_sums(dscale_nc, g, groups, x.dtype()) : Tensor(),
          ctx.needs_grad[2] ? channel_sums(db_nc, g, groups, x.dtype()) : Tensor()};
}

}  // namespace

OpDef group_normalization_op() {
  return {"", "GroupNormalization", 18, &norm_forward<false>, &norm_backward<false>};
}
OpDef instance_normalization_op() {
  return {"", "InstanceNormalization", 6, &norm_forward<true>, &norm_backward<true>};
}

}  // namespace tamp::ops
