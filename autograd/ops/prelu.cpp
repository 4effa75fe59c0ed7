// PRelu(X, slope): X where X >= 0, slope * X below. From opset 7 slope broadcasts to X
// (numpy, one way); before, slope holds one value or one per channel (axis 1), which is
// given X's rank here, and its gradient is reduced back to that shape.
#include <tamp/autograd/kernels/broadcast.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>
#include <tamp/autograd/tensor_math.h>

namespace tamp::ops {

namespace {

struct Saved {
  Tensor x, slope;    // slope broadcast for X
  Shape slope_shape;  // the slope's own shape, to sum its gradient back to
};

// slope as it broadcasts against X.
Tensor broadcast_slope(const OpContext& ctx, const Tensor& x, const Tensor& slope) {
  if (ctx.opset < 7 && slope.numel() > 1) {
    TAMP_CHECK(x.rank() >= 2 && slope.numel() == x.dim(1),
               "slope {} must hold 1 value or one per channel of X {}", describe(slope),
               describe(x));
    Shape s(static_cast<size_t>(x.rank()), 1);
    s[1] = slope.numel();
    return slope.reshape(s);
  }
  TAMP_CHECK(broadcast_shapes(x.shape(), slope.shape()) == x.shape(),
             "slope {} does not broadcast to X {}", describe(slope), describe(x));
  return slope;
}

std::vector<Tensor> prelu_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "X");
  const Tensor& given = input(in, 1, "slope");
  expect_same_dtype(x, given, "X and slope");
  const Tensor slope = broadcast_slope(ctx, x, given);
  Tensor y = dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    return kernels::broadcast_binary<T, T>(x, slope, x.dtype(),
                                           [](T v, T s) { return v < T(0) ? s * v : v; });
  });
  if (ctx.any_grad()) ctx.save(Saved{x, slope, given.shape()});
  return {y};
}

std::vector<Tensor> prelu_backward(OpContext& ctx, const std::vector<Tensor>& g) {
  const Saved& saved = ctx.saved_as<Saved>();
  const auto& x = saved.x;
  const auto& slope = saved.slope;
  const auto& given_shape = saved.slope_shape;
  Tensor dx, dslope;
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (ctx.needs_grad[0]) {
      const Tensor factor = kernels::broadcast_binary<T, T>(
          x, slope, x.dtype(), [](T v, T s) { return v < T(0) ? s : T(1); });
      dx = mul(g[0], factor);
    }
    if (ctx.needs_grad[1]) {
      Tensor negative = Tensor::empty(x.shape(), x.dtype());
      kernels::map_unary(x.data<T>(), negative.data<T>(), x.numel(),
                         [](T v) { return v < T(0) ? v : T(0); });
      // Summed to the broadcast slope's shape here: the engine's numpy rule would align a
      // per-channel slope of opset 6 with X's last axis.
      dslope = sum_to(mul(g[0], negative), slope.shape()).reshape(given_shape);
    }
  });
  return {dx, dslope};
}

}  // namespace

OpDef prelu_op() { return {"", "PRelu", 6, &prelu_forward, &prelu_backward}; }

}  // namespace tamp::ops
