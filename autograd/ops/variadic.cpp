// Max, Min, Sum and Mean over one or more inputs with numpy broadcasting (opset 8; opset 6
// asks for equal shapes, which broadcasting computes alike). Max and Min propagate NaN, as
// numpy's maximum and ONNX Runtime do, and send the gradient to the inputs equal to the
// result, split evenly between ties. Gradients come back in the output's shape; the engine
// reduces each to its input's.
#include <tamp/autograd/kernels/broadcast.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

#include <cmath>

namespace tamp::ops {

namespace {

struct Saved {
  std::vector<Tensor> inputs;
  Tensor y;
};

enum class Kind { kMax, kMin, kSum, kMean };

template <Kind K, class T> T combine(T a, T b) {
  if constexpr (K == Kind::kSum || K == Kind::kMean) {
    return static_cast<T>(a + b);
  } else {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(a)) return a;
      if (std::isnan(b)) return b;
    }
    if constexpr (K == Kind::kMax)
      return a < b ? b : a;
    else
      return b < a ? b : a;
  }
}

// Elementwise f(a, b) with broadcasting, in a's dtype.
template <class F> Tensor broadcast(const Tensor& a, const Tensor& b, F f) {
  return dispatch_numeric(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    return kernels::broadcast_binary<T, T>(a, b, a.dtype(),
                                           [&](T x, T y) { return static_cast<T>(f(x, y)); });
  });
}

template <Kind K>
std::vector<Tensor> variadic_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  TAMP_CHECK(!in.empty(), "needs at least one input");
  const Tensor& first = input(in, 0, "data_0");
  if constexpr (K == Kind::kSum || K == Kind::kMean) {
    TAMP_CHECK(is_floating(first.dtype()), "takes float tensors, got {}", describe(first));
  }
  Tensor y = first;
  for (size_t i = 1; i < in.size(); ++i) {
    const Tensor& x = input(in, i, "data_i");
    expect_same_dtype(first, x, "data_0 and data_i");
    y = broadcast(y, x, [](auto a, auto b) { return combine<K>(a, b); });
  }
  if constexpr (K == Kind::kMean) {
    const double n = static_cast<double>(in.size());
    y = broadcast(y, Tensor::scalar(1.0, y.dtype()), [n](auto a, auto) { return a / n; });
  }
  if (in.size() == 1) y = y.clone();  // a fresh output, as for any other count
  if (ctx.any_grad()) ctx.save(Saved{in, y});
  return {y};
}

template <Kind K>
std::vector<Tensor> variadic_backward(OpContext& ctx, const std::vector<Tensor>& g) {
  const Saved& saved = ctx.saved_as<Saved>();
  const auto& inputs = saved.inputs;
  const auto& y = saved.y;
  const size_t n = inputs.size();
  std::vector<Tensor> grads(n);
  if (!g[0].defined()) return grads;
  if constexpr (K == Kind::kSum || K == Kind::kMean) {
    const Tensor share =
        K == Kind::kSum ? g[0] : div(g[0], Tensor::scalar(static_cast<double>(n), g[0].dtype()));
    for (size_t i = 0; i < n; ++i)
      if (ctx.needs_grad[i]) grads[i] = share;
  } else {
    auto hits = [&](const Tensor& x) {
      return broadcast(x, y, [](auto a, auto b) { return a == b ? 1 : 0; });
    };
    Tensor ties = hits(inputs[0]);  // y has the broadcast shape of every input
    for (size_t i = 1; i < n; ++i)
      ties = broadcast(ties, hits(inputs[i]), [](auto a, auto b) { return a + b; });
    const Tensor share = div(g[0], ties);
    for (size_t i = 0; i < n; ++i) {
      if (ctx.needs_grad[i]) grads[i] = mul(share, hits(inputs[i]));
    }
  }
  return grads;
}

template <Kind K> OpDef variadic(const char* type) {
  return {"", type, 6, &variadic_forward<K>, &variadic_backward<K>};
}

}  // namespace

OpDef max_op() { return variadic<Kind::kMax>("Max"); }
OpDef mean_op() { return variadic<Kind::kMean>("Mean"); }
OpDef min_op() { return variadic<Kind::kMin>("Min"); }
OpDef sum_op() { return variadic<Kind::kSum>("Sum"); }

}  // namespace tamp::ops
