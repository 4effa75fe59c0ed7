// LayerNormalization (opset 17): X seen as (M, N) at `axis`, each row normalised to zero
// mean and unit variance, then scaled and shifted. Outputs Mean and InvStdDev (shape
// [d0, ..., d(axis-1), 1, ..., 1]) unless the caller wants Y only; their dtype is stash_type (1 =
// float32 as ONNX allows; tamp also accepts 11 = float64). The statistics are computed in
// the wider of X's dtype and float32, so float64 gradient checks stay exact.
#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/kernels/rows.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

#include <Eigen/Core>

#include <cmath>
#include <type_traits>

namespace tamp::ops {

namespace {

struct Saved {
  Tensor x, scale, mean, rstd;
  Tensor b;  // undefined when omitted
};

constexpr int64_t kStashFloat = 1, kStashDouble = 11;

struct Geometry {
  int axis;
  int64_t rows, cols;  // (M, N)
  Shape stat_shape;    // of Mean and InvStdDev
};

Geometry geometry(const OpContext& ctx, const Tensor& x) {
  const int rank = x.rank();
  int64_t axis = ctx.attrs().i("axis", -1);
  TAMP_CHECK(axis >= -rank && axis <= rank, "axis {} is out of range [-{}, {}] for X {}", axis,
             rank, rank, describe(x));
  if (axis < 0) axis += rank;
  Geometry g{static_cast<int>(axis), numel(x.shape(), 0, static_cast<int>(axis)),
             numel(x.shape(), static_cast<int>(axis), rank), x.shape()};
  for (int d = g.axis; d < rank; ++d) g.stat_shape[d] = 1;
  return g;
}

// Scale and B hold one value per normalised element, or a single value for all.
void check_affine(const Tensor& t, const Tensor& x, const Geometry& g, const char* name) {
  expect_same_dtype(x, t, name);
  TAMP_CHECK(t.numel() == g.cols || t.numel() == 1,
             "{} {} must have {} elements (the dims of X {} from axis {}) or 1", name, describe(t),
             g.cols, describe(x), g.axis);
}

template <class T> using Vec = Eigen::Array<T, Eigen::Dynamic, 1>;
template <class T> using ConstVecMap = Eigen::Map<const Vec<T>>;
template <class T> using VecMap = Eigen::Map<Vec<T>>;

// y = (x - mean) * rstd * scale + b per row; mean and rstd of every row are stored.
template <class T> void forward_kernel(const Geometry& g, T eps, const T* x, const T* scale,
                                       int64_t scale_n, const T* b, int64_t b_n, T* y, T* mean,
                                       T* rstd) {
  const int64_t n = g.cols;
  kernels::parallel_for(g.rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(n, 1)),
                        [&](int64_t r0, int64_t r1) {
                          if constexpr (std::is_same_v<T, float>) {
                            if (scale_n == n && (!b || b_n == n)) {
                              return kernels::layer_norm_rows(x + r0 * n, scale, b, eps, y + r0 * n,
                                                              mean + r0, rstd + r0, r1 - r0, n);
                            }
                          }
                          for (int64_t r = r0; r < r1; ++r) {
                            ConstVecMap<T> xr(x + r * n, n);
                            VecMap<T> yr(y + r * n, n);
                            const T mu = n > 0 ? xr.sum() / T(n) : T(0);
                            const T var = n > 0 ? (xr - mu).square().sum() / T(n) : T(0);
                            const T rs = T(1) / std::sqrt(var + eps);
                            mean[r] = mu;
                            rstd[r] = rs;
                            if (scale_n == n)
                              yr = (xr - mu) * rs * ConstVecMap<T>(scale, n);
                            else
                              yr = (xr - mu) * (rs * scale[0]);
                            if (b && b_n == n)
                              yr += ConstVecMap<T>(b, n);
                            else if (b)
                              yr += b[0];
                          }
                        });
}

std::vector<Tensor> layer_norm_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "X");
  const Tensor& scale = input(in, 1, "Scale");
  const Tensor b = optional_input(in, 2);
  const Geometry g = geometry(ctx, x);
  check_affine(scale, x, g, "Scale");
  if (b.defined()) check_affine(b, x, g, "B");
  const int64_t stash = ctx.attrs().i("stash_type", kStashFloat);
  TAMP_CHECK(stash == kStashFloat || stash == kStashDouble,
             "stash_type {} is not supported (1 = float32; tamp also takes 11 = float64)", stash);
  const float eps = ctx.attrs().f("epsilon", 1e-5f);
  TAMP_CHECK(eps >= 0 && std::isfinite(eps), "epsilon must be finite and >= 0, got {}", eps);

  Tensor y = Tensor::empty(x.shape(), x.dtype());
  Tensor mean = Tensor::empty(g.stat_shape, x.dtype());
  Tensor rstd = Tensor::empty(g.stat_shape, x.dtype());
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    forward_kernel<T>(g, T(eps), x.data<T>(), scale.data<T>(), scale.numel(),
                      b.defined() ? b.data<T>() : nullptr, b.defined() ? b.numel() : 0, y.data<T>(),
                      mean.data<T>(), rstd.data<T>());
  });
  if (ctx.any_grad()) ctx.save(Saved{x, scale, mean, rstd, b});
  const DType stash_dtype = stash == kStashDouble ? DType::kFloat64 : DType::kFloat32;
  if (ctx.num_outputs == 1) return {y};
  if (stash_dtype == x.dtype()) return {y, mean, rstd};
  return {y, mean.to(stash_dtype), rstd.to(stash_dtype)};
}

// One row's dx through the vector kernel (fp32, a scale per element): false for other dtypes.
bool dx_row_kernel(const double*, const double*, const double*, const double*, const double*,
                   double*, int64_t) {
  return false;
}
bool dx_row_kernel(const float* x, const float* scale, const float* mean, const float* rstd,
                   const float* dy, float* dx, int64_t n) {
  kernels::layer_norm_rows_backward(x, scale, mean, rstd, dy, dx, 1, n);
  return true;
}

// With xhat = (x - mean) * rstd and gs = dY * scale:
//   dX = rstd * (gs - mean(gs) - xhat * mean(gs * xhat))
//        + dMean / N - dInvStdDev * rstd^2 * xhat / N
//   dScale = sum over rows of dY * xhat,  dB = sum over rows of dY.
// Rows are split into a fixed number of blocks whose partial dScale/dB sums are added in
// order, so results do not depend on the thread count.
template <class T> void backward_kernel(const Geometry& g, const T* x, const T* scale,
                                        int64_t scale_n, int64_t b_n, const T* mean, const T* rstd,
                                        const T* gy, const T* gmean, const T* grstd, T* dx,
                                        T* dscale, T* db) {
  const int64_t n = g.cols;
  const int64_t blocks = std::min<int64_t>(g.rows, 32);
  const bool want_affine = dscale || db;
  std::vector<T> partial(want_affine ? static_cast<size_t>(blocks * 2 * n) : 0,
                         T(0));  // (blocks, 2, N)
  kernels::parallel_for(blocks, 1, [&](int64_t k0, int64_t k1) {
    Vec<T> xhat(n), gs(n);
    for (int64_t k = k0; k < k1; ++k) {
      // Without affine gradients `partial` is empty: no offset from its null data().
      VecMap<T> ps(want_affine ? partial.data() + k * 2 * n : nullptr, want_affine ? n : 0);
      VecMap<T> pb(want_affine ? partial.data() + (k * 2 + 1) * n : nullptr, want_affine ? n : 0);
      for (int64_t r = g.rows * k / blocks; r < g.rows * (k + 1) / blocks; ++r) {
        ConstVecMap<T> xr(x + r * n, n);
        xhat = (xr - mean[r]) * rstd[r];
        if (gy) {
          ConstVecMap<T> gr(gy + r * n, n);
          if (want_affine) {
            ps += gr * xhat;
            pb += gr;
          }
          const bool by_kernel =
              dx && scale_n == n &&
              dx_row_kernel(x + r * n, scale, mean + r, rstd + r, gy + r * n, dx + r * n, n);
          if (dx && !by_kernel) {
            if (scale_n == n)
              gs = gr * ConstVecMap<T>(scale, n);
            else
              gs = gr * scale[0];
            const T inv_n = T(1) / T(n);
            const T m1 = gs.sum() * inv_n, m2 = (gs * xhat).sum() * inv_n;
            VecMap<T>(dx + r * n, n) = rstd[r] * (gs - m1 - xhat * m2);
          }
        } else if (dx) {
          VecMap<T>(dx + r * n, n).setZero();
        }
        if (dx && (gmean || grstd)) {
          VecMap<T> dr(dx + r * n, n);
          if (gmean) dr += gmean[r] / T(n);
          if (grstd) dr -= xhat * (grstd[r] * rstd[r] * rstd[r] / T(n));
        }
      }
    }
  });
  if (!want_affine) return;
  Vec<T> ts = Vec<T>::Zero(n), tb = Vec<T>::Zero(n);
  for (int64_t k = 0; k < blocks; ++k) {
    ts += ConstVecMap<T>(partial.data() + k * 2 * n, n);
    tb += ConstVecMap<T>(partial.data() + (k * 2 + 1) * n, n);
  }
  if (dscale) {
    if (scale_n == n)
      VecMap<T>(dscale, n) = ts;
    else
      dscale[0] = ts.sum();
  }
  if (db) {
    if (b_n == n)
      VecMap<T>(db, n) = tb;
    else
      db[0] = tb.sum();
  }
}

std::vector<Tensor> layer_norm_backward(OpContext& ctx, const std::vector<Tensor>& grads) {
  const Saved& saved = ctx.saved_as<Saved>();
  const auto& x = saved.x;
  const auto& scale = saved.scale;
  const auto& mean = saved.mean;
  const auto& rstd = saved.rstd;
  const auto& b = saved.b;
  const Geometry g = geometry(ctx, x);
  const bool need_x = ctx.needs_grad[0];
  const bool need_scale = ctx.needs_grad.size() > 1 && ctx.needs_grad[1] && grads[0].defined();
  const bool need_b = ctx.needs_grad.size() > 2 && ctx.needs_grad[2] && grads[0].defined();
  auto stat_grad = [&](size_t k) {
    return k < grads.size() && grads[k].defined() ? grads[k].to(x.dtype()) : Tensor();
  };
  const Tensor gmean = stat_grad(1), grstd = stat_grad(2);
  Tensor dx = need_x ? Tensor::empty(x.shape(), x.dtype()) : Tensor();
  Tensor dscale = need_scale ? Tensor::empty(scale.shape(), x.dtype()) : Tensor();
  Tensor db = need_b ? Tensor::empty(b.shape(), x.dtype()) : Tensor();
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto ptr = [](Tensor& t) { return t.defined() ? t.data<T>() : nullptr; };
    auto cptr = [](const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; };
    backward_kernel<T>(g, x.data<T>(), scale.data<T>(), scale.numel(), need_b ? b.numel() : 0,
                       mean.data<T>(), rstd.data<T>(), cptr(grads[0]), cptr(gmean), cptr(grstd),
                       ptr(dx), ptr(dscale), ptr(db));
  });
  return {dx, dscale, db};
}

}  // namespace

OpDef layer_normalization_op() {
  return {"", "LayerNormalization", 17, &layer_norm_forward, &layer_norm_backward};
}

}  // namespace tamp::ops
