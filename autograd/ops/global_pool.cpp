// GlobalAveragePool and GlobalMaxPool: X (N, C, D1, ..., Dn) -> (N, C, 1, ..., 1), one value
// per channel plane. GlobalMaxPool takes the first maximum (NaN wins) and routes the gradient
// to it.
#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

#include <Eigen/Core>

namespace tamp::ops {

namespace {

struct Geometry {
  int64_t planes, size;  // X as (N * C, D1 * ... * Dn)
  Shape out_shape;
};

Geometry geometry(const Shape& x) {
  TAMP_CHECK(x.size() >= 2, "X {} must be (N, C, D1, ..., Dn): rank >= 2", to_string(x));
  Geometry g{x[0] * x[1], numel(x, 2, static_cast<int>(x.size())), x};
  for (size_t d = 2; d < x.size(); ++d) g.out_shape[d] = 1;
  return g;
}

template <class T> using ConstVecMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T> using VecMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;

template <class F> void for_each_plane(const Geometry& g, F&& f) {
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(g.size, 1));
  kernels::parallel_for(g.planes, grain, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) f(p);
  });
}

struct AverageSaved {
  Shape x_shape;
};

struct MaxSaved {
  Tensor argmax;
  Shape x_shape;
};

std::vector<Tensor> global_average_pool_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "X");
  const Geometry g = geometry(x.shape());
  Tensor y = Tensor::empty(g.out_shape, x.dtype());
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for_each_plane(g, [&](int64_t p) {
      py[p] = g.size > 0 ? ConstVecMap<T>(px + p * g.size, g.size).sum() / T(g.size) : T(0);
    });
  });
  if (ctx.any_grad()) ctx.save(AverageSaved{x.shape()});
  return {y};
}

std::vector<Tensor> global_average_pool_backward(OpContext& ctx, const std::vector<Tensor>& grads) {
  const Shape& x_shape = ctx.saved_as<AverageSaved>().x_shape;
  const Geometry g = geometry(x_shape);
  const Tensor& gy = grads[0];
  Tensor dx = Tensor::empty(x_shape, gy.dtype());
  dispatch_float(gy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pg = gy.data<T>();
    T* pd = dx.data<T>();
    for_each_plane(
        g, [&](int64_t p) { VecMap<T>(pd + p * g.size, g.size).setConstant(pg[p] / T(g.size)); });
  });
  return {dx};
}

std::vector<Tensor> global_max_pool_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "X");
  const Geometry g = geometry(x.shape());
  TAMP_CHECK(g.size > 0, "X {} has an empty spatial extent: its maximum is undefined", describe(x));
  Tensor y = Tensor::empty(g.out_shape, x.dtype());
  Tensor argmax = Tensor::empty({g.planes}, DType::kInt64);  // plane-local
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    int64_t* pa = argmax.data<int64_t>();
    for_each_plane(g, [&](int64_t p) {
      const T* v = px + p * g.size;
      int64_t at = 0;
      for (int64_t i = 1; i < g.size; ++i) {
        if (v[at] != v[at]) break;
        if (v[i] > v[at] || v[i] != v[i]) at = i;
      }
      py[p] = v[at];
      pa[p] = at;
    });
  });
  if (ctx.any_grad()) ctx.save(MaxSaved{argmax, x.shape()});
  return {y};
}

std::vector<Tensor> global_max_pool_backward(OpContext& ctx, const std::vector<Tensor>& grads) {
  const MaxSaved& saved = ctx.saved_as<MaxSaved>();
  const auto& argmax = saved.argmax;
  const auto& x_shape = saved.x_shape;
  const Geometry g = geometry(x_shape);
  const Tensor& gy = grads[0];
  Tensor dx = Tensor::zeros(x_shape, gy.dtype());
  dispatch_float(gy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pg = gy.data<T>();
    const int64_t* pa = argmax.data<int64_t>();
    T* pd = dx.data<T>();
    for (int64_t p = 0; p < g.planes; ++p) pd[p * g.size + pa[p]] = pg[p];
  });
  return {dx};
}

}  // namespace

OpDef global_average_pool_op() {
  return {"", "GlobalAveragePool", 1, &global_average_pool_forward, &global_average_pool_backward};
}
OpDef global_max_pool_op() {
  return {"", "GlobalMaxPool", 1, &global_max_pool_forward, &global_max_pool_backward};
}

}  // namespace tamp::ops
