// Conv: grouped 1-D/2-D/3-D convolution, Y = conv(X, W) + B, with gradients for X, W and B.
// The kernels (kernels/conv.cpp) do im2col + GEMM parallel over the batch.
#include <tamp/autograd/kernels/conv.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/conv_geometry.h>
#include <tamp/autograd/ops/op_helpers.h>

namespace tamp::ops {

namespace {

struct Saved {
  Tensor x, w;
};

template <class T> const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

template <class T> T* data_or_null(Tensor& t) { return t.defined() ? t.data<T>() : nullptr; }

std::vector<Tensor> conv_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "X");
  const Tensor& w = input(in, 1, "W");
  const Tensor b = optional_input(in, 2);
  const ConvGeometry g = conv_geometry(ctx.attrs(), x, w, b);
  Tensor y = Tensor::empty(g.y_shape, x.dtype());
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::conv_forward<T>(g.shape, x.data<T>(), w.data<T>(), data_or_null<T>(b), y.data<T>());
  });
  if (ctx.any_grad()) ctx.save(Saved{x, w});
  return {y};
}

std::vector<Tensor> conv_backward(OpContext& ctx, const std::vector<Tensor>& grads) {
  const Saved& saved = ctx.saved_as<Saved>();
  const auto& x = saved.x;
  const auto& w = saved.w;
  const Tensor& dy = grads[0];  // (N, M, out...)
  if (!dy.defined()) return {};
  const ConvGeometry g = conv_geometry(ctx.attrs(), x, w, Tensor());
  const bool want_b = ctx.needs_grad.size() > 2 && ctx.needs_grad[2];
  Tensor dx = ctx.needs_grad[0] ? Tensor::empty(x.shape(), x.dtype()) : Tensor();
  Tensor dw = ctx.needs_grad[1] ? Tensor::empty(w.shape(), w.dtype()) : Tensor();
  Tensor db = want_b ? Tensor::empty({w.dim(0)}, w.dtype()) : Tensor();
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    // x is only read for dW: the first layer's input needs no gradient but W does.
    kernels::conv_backward<T>(g.shape, x.data<T>(), w.data<T>(), dy.data<T>(), data_or_null<T>(dx),
                              data_or_null<T>(dw), data_or_null<T>(db));
  });
  return {dx, dw, db};
}

}  // namespace

OpDef conv_op() { return {"", "Conv", 1, &conv_forward, &conv_backward}; }

}  // namespace tamp::ops
