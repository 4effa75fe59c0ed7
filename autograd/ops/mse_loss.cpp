// tamp::MSELoss — mean squared error between two tensors of the same shape, fused (one pass,
// no (a - b) and (a - b)^2 temporaries): reduction "mean" (default), "sum" or "none"
// (elementwise). Intermediate-layer distillation uses it on whole feature maps.
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/loss_helpers.h>

namespace tamp::ops {

namespace {

struct Saved {
  Tensor a, b;
};

Reduction check_mse(const Tensor& a, const Tensor& b, const Attributes& attrs) {
  TAMP_CHECK(a.shape() == b.shape(), "input {} and target {} must have the same shape", describe(a),
             describe(b));
  expect_same_dtype(a, b, "input and target");
  return parse_reduction(attrs, "mean", {"none", "sum", "mean"});
}

std::vector<Tensor> mse_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& a = input(in, 0, "input");
  const Tensor& b = input(in, 1, "target");
  const Reduction r = check_mse(a, b, ctx.attrs());
  Tensor out = dispatch_float(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    const int64_t n = a.numel();
    if (r == Reduction::kNone) {
      Tensor y = Tensor::empty(a.shape(), a.dtype());
      T* py = y.data<T>();
      kernels::parallel_for(n, 65536, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) py[i] = (pa[i] - pb[i]) * (pa[i] - pb[i]);
      });
      return y;
    }
    // Blocks of 4096 summed in T (vectorised), blocks summed in double in order.
    double total = 0;
    for (int64_t start = 0; start < n; start += 4096) {
      const int64_t stop = std::min(n, start + 4096);
      T acc = 0;
#pragma omp simd reduction(+ : acc)
      for (int64_t i = start; i < stop; ++i) acc += (pa[i] - pb[i]) * (pa[i] - pb[i]);
      total += acc;
    }
    if (r == Reduction::kMean) total /= static_cast<double>(n);
    return Tensor::scalar(total, a.dtype());
  });
  if (ctx.any_grad()) ctx.save(Saved{a, b});
  return {out};
}

std::vector<Tensor> mse_backward(OpContext& ctx, const std::vector<Tensor>& grads) {
  const Saved& saved = ctx.saved_as<Saved>();
  const auto& a = saved.a;
  const auto& b = saved.b;
  const Reduction r = check_mse(a, b, ctx.attrs());
  Tensor da = Tensor::empty(a.shape(), a.dtype());
  dispatch_float(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* pd = da.data<T>();
    const int64_t n = a.numel();
    const T* pg = grads[0].data<T>();
    const T scale = r == Reduction::kMean ? T(2.0 / static_cast<double>(n)) : T(2);
    kernels::parallel_for(n, 65536, [&](int64_t begin, int64_t end) {
      if (r == Reduction::kNone) {
        for (int64_t i = begin; i < end; ++i) pd[i] = T(2) * pg[i] * (pa[i] - pb[i]);
      } else {
        const T s = scale * pg[0];
        for (int64_t i = begin; i < end; ++i) pd[i] = s * (pa[i] - pb[i]);
      }
    });
  });
  Tensor db = ctx.needs_grad[1] ? neg(da) : Tensor();
  return {ctx.needs_grad[0] ? da : Tensor(), db};
}

}  // namespace

OpDef tamp_mse_loss_op() {
  return {std::string(kTampDomain), "MSELoss", 1, &mse_forward, &mse_backward};
}

}  // namespace tamp::ops
