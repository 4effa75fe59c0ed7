// Reduce* ops over any set of axes (kernels/reduce.h does the strided work). Axes are an
// attribute, or an input: ReduceSum's from opset 13, every other op's from opset 18 (with
// noop_with_empty_axes). ReduceMax/ReduceMin send the gradient to the elements equal to the
// result, split evenly between ties; from opset 20 they take bool (any / all) and reduce an
// empty set to the lowest / highest value (-inf / inf for floats), which the kernels do.
#include <tamp/autograd/kernels/broadcast.h>
#include <tamp/autograd/kernels/layout.h>
#include <tamp/autograd/kernels/reduce.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>
#include <tamp/autograd/tensor_math.h>

#include <cmath>

namespace tamp::ops {

namespace {

// y is kept with keepdims. x only for the reductions whose gradient reads it (not Sum, Mean).
struct Saved {
  std::vector<int> axes;
  Tensor x;
  Shape x_shape;
  Tensor y;
};

using kernels::ReduceKind;

enum class Kind { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kSumSquare, kLogSum, kLogSumExp };

// The reduced axes; none for noop_with_empty_axes without axes, where the op still applies
// its elementwise parts (ReduceL2 gives |x|, ReduceSumSquare x^2), as ONNX's reference and
// ONNX Runtime do.
std::vector<int> reduce_axes(const OpContext& ctx, const std::vector<Tensor>& in, int rank) {
  std::vector<int64_t> axes;
  Tensor t = optional_input(in, 1);
  if (t.defined())
    axes = to_int64s(t, "axes");
  else
    axes = ctx.attrs().ints("axes", {});
  if (axes.empty()) {
    if (ctx.attrs().i("noop_with_empty_axes", 0) != 0) return {};
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  }
  return normalize_axes(axes, rank);
}

// f(x) elementwise, same dtype.
template <class F> Tensor map(const Tensor& x, F f) {
  return dispatch_numeric(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    Tensor out = Tensor::empty(x.shape(), x.dtype());
    kernels::map_unary(x.data<T>(), out.data<T>(), x.numel(),
                       [&](T v) { return static_cast<T>(f(v)); });
    return out;
  });
}

// f(x, k) with k of the reduced (keepdims) shape broadcast over x.
template <class F> Tensor bmap(const Tensor& x, const Tensor& k, F f) {
  return dispatch_numeric(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    return kernels::broadcast_binary<T, T>(x, k, x.dtype(),
                                           [&](T a, T b) { return static_cast<T>(f(a, b)); });
  });
}

template <Kind K> Tensor reduce_keepdims(const Tensor& x, const std::vector<int>& axes) {
  const auto sum = ReduceKind::kSum;
  if constexpr (K == Kind::kSum) return kernels::reduce(x, axes, sum);
  if constexpr (K == Kind::kMax) return kernels::reduce(x, axes, ReduceKind::kMax);
  if constexpr (K == Kind::kMin) return kernels::reduce(x, axes, ReduceKind::kMin);
  if constexpr (K == Kind::kProd) return kernels::reduce(x, axes, ReduceKind::kProd);
  if constexpr (K == Kind::kMean) {
    int64_t n = 1;
    for (int a : axes) n *= x.shape()[a];
    const double scale = n ? 1.0 / static_cast<double>(n) : NAN;
    Tensor s = kernels::reduce(x, axes, sum);
    if (is_integer(x.dtype())) return map(s, [n](auto v) { return n ? v / n : 0; });
    return map(s, [scale](auto v) { return v * scale; });
  }
  if constexpr (K == Kind::kL1)
    return kernels::reduce(map(x, [](auto v) { return v < 0 ? -v : v; }), axes, sum);
  if constexpr (K == Kind::kSumSquare)
    return kernels::reduce(map(x, [](auto v) { return v * v; }), axes, sum);
  if constexpr (K == Kind::kL2) {
    return map(kernels::reduce(map(x, [](auto v) { return v * v; }), axes, sum),
               [](auto v) { return std::sqrt(v); });
  }
  if constexpr (K == Kind::kLogSum)
    return map(kernels::reduce(x, axes, sum), [](auto v) { return std::log(v); });
  if constexpr (K == Kind::kLogSumExp) {
    // log(sum(exp(x - m))) + m with m the max, finite even for large x.
    Tensor m = map(kernels::reduce(x, axes, ReduceKind::kMax),
                   [](auto v) { return std::isfinite(v) ? v : 0; });
    Tensor s =
        kernels::reduce(bmap(x, m, [](auto a, auto b) { return std::exp(a - b); }), axes, sum);
    return bmap(s, m, [](auto a, auto b) { return std::log(a) + b; });
  }
}

template <Kind K>
std::vector<Tensor> reduce_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "data");
  if ((K == Kind::kMax || K == Kind::kMin) && x.dtype() == DType::kBool) {
    std::vector<Tensor> bytes = in;
    bytes[0] = x.to(DType::kUInt8);
    return {reduce_forward<K>(ctx, bytes).at(0).to(DType::kBool)};
  }
  const std::vector<int> axes = reduce_axes(ctx, in, x.rank());
  if constexpr (K == Kind::kL2 || K == Kind::kLogSum || K == Kind::kLogSumExp) {
    TAMP_CHECK(is_floating(x.dtype()), "{} needs a float input", describe(x));
  }
  Tensor y = reduce_keepdims<K>(x, axes);
  if (ctx.any_grad()) {
    const bool needs_x = K != Kind::kSum && K != Kind::kMean;
    ctx.save(Saved{axes, needs_x ? x : Tensor(), x.shape(), y});
  }
  const bool keepdims = ctx.attrs().i("keepdims", 1) != 0;
  return {keepdims ? y : y.reshape(kernels::reduced_shape(x.shape(), axes, false))};
}

template <Kind K>
std::vector<Tensor> reduce_backward(OpContext& ctx, const std::vector<Tensor>& grads) {
  const Saved& s = ctx.saved_as<Saved>();
  const std::vector<int>& axes = s.axes;
  const Tensor& y = s.y;
  const Tensor g = grads[0].reshape(y.shape());
  if constexpr (K == Kind::kSum || K == Kind::kMean) {
    const Shape& shape = s.x_shape;
    if constexpr (K == Kind::kSum) return {kernels::expand_to(g, shape), Tensor()};
    const double n = static_cast<double>(numel(shape)) / static_cast<double>(y.numel());
    return {kernels::expand_to(map(g, [n](auto v) { return v / n; }), shape), Tensor()};
  }
  const Tensor& x = s.x;
  Tensor dx;
  if constexpr (K == Kind::kMax || K == Kind::kMin) {
    Tensor hit = bmap(x, y, [](auto v, auto m) { return v == m ? 1 : 0; });
    Tensor share = div(g, kernels::reduce(hit, axes, ReduceKind::kSum));
    dx = bmap(hit, share, [](auto h, auto s) { return h * s; });
  } else if constexpr (K == Kind::kProd) {
    // d/dx_i = product of the others, computed without dividing by zero.
    Tensor zeros =
        kernels::reduce(map(x, [](auto v) { return v == 0 ? 1 : 0; }), axes, ReduceKind::kSum);
    Tensor others =
        kernels::reduce(map(x, [](auto v) { return v == 0 ? 1 : v; }), axes, ReduceKind::kProd);
    Tensor gp = mul(g, others);
    Tensor no_zero = mul(gp, map(zeros, [](auto z) { return z == 0 ? 1 : 0; }));
    Tensor one_zero = mul(gp, map(zeros, [](auto z) { return z == 1 ? 1 : 0; }));
    dx = add(bmap(x, no_zero, [](auto v, auto k) { return v == 0 ? 0 : k / v; }),
             bmap(x, one_zero, [](auto v, auto k) { return v == 0 ? k : 0; }));
  } else if constexpr (K == Kind::kL1) {
    dx = bmap(x, g, [](auto v, auto k) { return v > 0 ? k : v < 0 ? -k : 0; });
  } else if constexpr (K == Kind::kL2) {
    Tensor k = bmap(g, y, [](auto gv, auto yv) { return yv == 0 ? 0 : gv / yv; });
    dx = bmap(x, k, [](auto v, auto kv) { return v * kv; });
  } else if constexpr (K == Kind::kSumSquare) {
    dx = bmap(x, g, [](auto v, auto k) { return 2 * v * k; });
  } else if constexpr (K == Kind::kLogSum) {
    dx = kernels::expand_to(bmap(g, y, [](auto gv, auto yv) { return gv * std::exp(-yv); }),
                            x.shape());
  } else if constexpr (K == Kind::kLogSumExp) {
    dx = bmap(bmap(x, y, [](auto v, auto yv) { return std::exp(v - yv); }), g,
              [](auto e, auto k) { return e * k; });
  }
  return {dx, Tensor()};
}

template <Kind K> OpDef reduce_def(const char* type, int since) {
  return {"", type, since, &reduce_forward<K>, &reduce_backward<K>, {1}};
}

}  // namespace

OpDef reduce_l1_op() { return reduce_def<Kind::kL1>("ReduceL1", 1); }
OpDef reduce_l2_op() { return reduce_def<Kind::kL2>("ReduceL2", 1); }
OpDef reduce_log_sum_exp_op() { return reduce_def<Kind::kLogSumExp>("ReduceLogSumExp", 1); }
OpDef reduce_log_sum_op() { return reduce_def<Kind::kLogSum>("ReduceLogSum", 1); }
OpDef reduce_max_op() { return reduce_def<Kind::kMax>("ReduceMax", 1); }
OpDef reduce_mean_op() { return reduce_def<Kind::kMean>("ReduceMean", 1); }
OpDef reduce_min_op() { return reduce_def<Kind::kMin>("ReduceMin", 1); }
OpDef reduce_prod_op() { return reduce_def<Kind::kProd>("ReduceProd", 1); }
OpDef reduce_sum_op() { return reduce_def<Kind::kSum>("ReduceSum", 1); }
OpDef reduce_sum_square_op() { return reduce_def<Kind::kSumSquare>("ReduceSumSquare", 1); }

}  // namespace tamp::ops
