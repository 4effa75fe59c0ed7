// Elementwise binary ops with ONNX (numpy) broadcasting: arithmetic, Pow, comparisons and
// logic. Backward returns gradients in the broadcast output shape; the engine reduces them.
// Before opset 7 B broadcasts only when the node says broadcast = 1, aligned with A from
// `axis` (suffix matching, numpy's rule, without it): B is then given A's rank with 1s around
// it, and its gradient is reduced here to that aligned shape.
#include <tamp/autograd/kernels/broadcast.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>
#include <tamp/autograd/tensor_math.h>

#include <cmath>

namespace tamp::ops {

namespace {

// True when the legacy rule aligns B at an explicit axis (numpy's rule would not).
bool legacy_axis(const OpContext& ctx) {
  return ctx.opset < 7 && ctx.attrs().i("broadcast", 0) != 0 && ctx.attrs().has("axis");
}

// B's shape with A's rank under the legacy rule; B's own shape otherwise.
Shape aligned_b_shape(const OpContext& ctx, int a_rank, const Shape& b) {
  if (!legacy_axis(ctx)) return b;
  const int b_rank = static_cast<int>(b.size());
  int64_t axis = ctx.attrs().i("axis");
  if (axis < 0) axis += a_rank;
  TAMP_CHECK(axis >= 0 && axis + b_rank <= a_rank, "B {} does not fit in A (rank {}) from axis {}",
             to_string(b), a_rank, ctx.attrs().i("axis"));
  Shape s(static_cast<size_t>(a_rank), 1);
  std::copy(b.begin(), b.end(), s.begin() + axis);
  return s;
}

// B as the op broadcasts it (see the file comment).
Tensor legacy_b(const OpContext& ctx, const Tensor& a, const Tensor& b) {
  if (ctx.opset < 7 && ctx.attrs().i("broadcast", 0) == 0) {
    TAMP_CHECK(a.shape() == b.shape(), "A {} and B {} differ and broadcast is 0 (opset {})",
               describe(a), describe(b), ctx.opset);
  }
  return legacy_axis(ctx) ? b.reshape(aligned_b_shape(ctx, a.rank(), b.shape())) : b;
}

// What the backward passes keep: the operands they need (Mul: a, b; Div: b, out; Pow: a, b,
// out) and B's own shape when the legacy rule aligned it (for legacy_b_grad).
struct Saved {
  Tensor a = {}, b = {}, out = {};
  Shape legacy_b_shape = {};
};

// B's shape for Saved::legacy_b_shape: given B when the legacy rule aligned it, else unused.
Shape legacy_b_shape(const OpContext& ctx, const Tensor& given_b) {
  return legacy_axis(ctx) ? given_b.shape() : Shape{};
}

// B's gradient (in the output's shape) summed to B's shape under the legacy rule.
Tensor legacy_b_grad(const OpContext& ctx, const Tensor& gb) {
  if (!gb.defined() || !legacy_axis(ctx)) return gb;
  const Shape& b_shape = ctx.saved_as<Saved>().legacy_b_shape;
  return sum_to(gb, aligned_b_shape(ctx, gb.rank(), b_shape)).reshape(b_shape);
}

enum class Arith { kAdd, kSub, kMul, kDiv };

template <Arith kOp>
std::vector<Tensor> arith_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& a = input(in, 0, "A");
  const Tensor b = legacy_b(ctx, a, input(in, 1, "B"));
  expect_same_dtype(a, b, "A and B");
  Tensor y = dispatch_numeric(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (kOp == Arith::kAdd)
      return kernels::broadcast_binary<T, T>(a, b, a.dtype(), [](T x, T z) { return T(x + z); });
    if constexpr (kOp == Arith::kSub)
      return kernels::broadcast_binary<T, T>(a, b, a.dtype(), [](T x, T z) { return T(x - z); });
    if constexpr (kOp == Arith::kMul)
      return kernels::broadcast_binary<T, T>(a, b, a.dtype(), [](T x, T z) { return T(x * z); });
    if constexpr (kOp == Arith::kDiv) {
      if constexpr (std::is_integral_v<T>) {
        const T* pb = b.data<T>();
        for (int64_t i = 0; i < b.numel(); ++i) TAMP_CHECK(pb[i] != 0, "integer division by zero");
      }
      return kernels::broadcast_binary<T, T>(a, b, a.dtype(), [](T x, T z) { return T(x / z); });
    }
  });
  if (ctx.any_grad()) {
    const Shape b_shape = legacy_b_shape(ctx, input(in, 1, "B"));
    if constexpr (kOp == Arith::kMul)
      ctx.save(Saved{.a = a, .b = b, .legacy_b_shape = b_shape});
    else if constexpr (kOp == Arith::kDiv)
      ctx.save(Saved{.b = b, .out = y, .legacy_b_shape = b_shape});
    else if (legacy_axis(ctx))
      ctx.save(Saved{.legacy_b_shape = b_shape});
  }
  return {y};
}

std::vector<Tensor> add_backward(OpContext& ctx, const std::vector<Tensor>& g) {
  return {ctx.needs_grad[0] ? g[0] : Tensor(),
          ctx.needs_grad[1] ? legacy_b_grad(ctx, g[0]) : Tensor()};
}
std::vector<Tensor> sub_backward(OpContext& ctx, const std::vector<Tensor>& g) {
  return {ctx.needs_grad[0] ? g[0] : Tensor(),
          ctx.needs_grad[1] ? legacy_b_grad(ctx, neg(g[0])) : Tensor()};
}
std::vector<Tensor> mul_backward(OpContext& ctx, const std::vector<Tensor>& g) {
  const Saved& s = ctx.saved_as<Saved>();
  return {ctx.needs_grad[0] ? mul(g[0], s.b) : Tensor(),
          ctx.needs_grad[1] ? legacy_b_grad(ctx, mul(g[0], s.a)) : Tensor()};
}
std::vector<Tensor> div_backward(OpContext& ctx, const std::vector<Tensor>& g) {
  const Saved& s = ctx.saved_as<Saved>();
  const Tensor& b = s.b;
  const Tensor& y = s.out;
  Tensor ga = div(g[0], b);                                    // d(a/b)/da = 1/b
  Tensor gb = ctx.needs_grad[1] ? neg(mul(ga, y)) : Tensor();  // d(a/b)/db = -y/b
  return {ctx.needs_grad[0] ? ga : Tensor(), legacy_b_grad(ctx, gb)};
}

// Pow(X, Y): Y may have another (numeric) type; the result has X's type.
std::vector<Tensor> pow_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "X");
  const Tensor y = legacy_b(ctx, x, input(in, 1, "Y"));
  Tensor out = dispatch_numeric(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const Tensor yc = y.dtype() == x.dtype() ? y : y.to(x.dtype());
    return kernels::broadcast_binary<T, T>(x, yc, x.dtype(), [](T a, T b) {
      return saturating_cast<T>(std::pow(static_cast<double>(a), static_cast<double>(b)));
    });
  });
  if (ctx.any_grad()) ctx.save(Saved{x, y, out, legacy_b_shape(ctx, input(in, 1, "Y"))});
  return {out};
}

std::vector<Tensor> pow_backward(OpContext& ctx, const std::vector<Tensor>& g) {
  const Saved& s = ctx.saved_as<Saved>();
  const Tensor& x = s.a;
  const Tensor y = s.b.dtype() == x.dtype() ? s.b : s.b.to(x.dtype());
  const Tensor& out = s.out;
  Tensor gx, gy;
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (ctx.needs_grad[0]) {
      // y * x^(y-1), written without dividing by x so x = 0 works.
      Tensor d = kernels::broadcast_binary<T, T>(
          x, y, x.dtype(), [](T a, T b) { return b == T(0) ? T(0) : b * std::pow(a, b - T(1)); });
      gx = mul(g[0], d);
    }
    if (ctx.needs_grad[1]) {
      Tensor logx = Tensor::empty(x.shape(), x.dtype());
      kernels::map_unary(x.data<T>(), logx.data<T>(), x.numel(),
                         [](T a) { return a > T(0) ? std::log(a) : T(0); });
      gy = mul(g[0], mul(out, logx));
    }
  });
  return {gx, legacy_b_grad(ctx, gy)};
}

enum class Cmp { kEqual, kLess, kLessOrEqual, kGreater, kGreaterOrEqual };

template <Cmp kOp>
std::vector<Tensor> compare_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& a = input(in, 0, "A");
  const Tensor b = legacy_b(ctx, a, input(in, 1, "B"));
  expect_same_dtype(a, b, "A and B");
  auto cmp = [](auto x, auto z) {
    if constexpr (kOp == Cmp::kEqual) return x == z;
    if constexpr (kOp == Cmp::kLess) return x < z;
    if constexpr (kOp == Cmp::kLessOrEqual) return x <= z;
    if constexpr (kOp == Cmp::kGreater) return x > z;
    if constexpr (kOp == Cmp::kGreaterOrEqual) return x >= z;
  };
  if (a.dtype() == DType::kBool)
    return {kernels::broadcast_binary<bool, bool>(a, b, DType::kBool, cmp)};
  return {dispatch_numeric(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    return kernels::broadcast_binary<T, bool>(a, b, DType::kBool, cmp);
  })};
}

enum class Logic { kAnd, kOr, kXor };

template <Logic kOp>
std::vector<Tensor> logic_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& a = input(in, 0, "A");
  const Tensor b = legacy_b(ctx, a, input(in, 1, "B"));
  TAMP_CHECK(a.dtype() == DType::kBool && b.dtype() == DType::kBool,
             "inputs must be bool, got {} and {}", describe(a), describe(b));
  return {kernels::broadcast_binary<bool, bool>(a, b, DType::kBool, [](bool x, bool z) {
    if constexpr (kOp == Logic::kAnd) return x && z;
    if constexpr (kOp == Logic::kOr) return x || z;
    return x != z;
  })};
}

}  // namespace

OpDef add_op() { return {"", "Add", 6, &arith_forward<Arith::kAdd>, &add_backward}; }
OpDef and_op() { return {"", "And", 1, &logic_forward<Logic::kAnd>, nullptr}; }
OpDef div_op() { return {"", "Div", 6, &arith_forward<Arith::kDiv>, &div_backward}; }
OpDef equal_op() { return {"", "Equal", 1, &compare_forward<Cmp::kEqual>, nullptr}; }
OpDef greater_op() { return {"", "Greater", 1, &compare_forward<Cmp::kGreater>, nullptr}; }
OpDef greater_or_equal_op() {
  return {"", "GreaterOrEqual", 12, &compare_forward<Cmp::kGreaterOrEqual>, nullptr};
}
OpDef less_op() { return {"", "Less", 1, &compare_forward<Cmp::kLess>, nullptr}; }
OpDef less_or_equal_op() {
  return {"", "LessOrEqual", 12, &compare_forward<Cmp::kLessOrEqual>, nullptr};
}
OpDef mul_op() { return {"", "Mul", 6, &arith_forward<Arith::kMul>, &mul_backward}; }
OpDef or_op() { return {"", "Or", 1, &logic_forward<Logic::kOr>, nullptr}; }
OpDef pow_op() { return {"", "Pow", 1, &pow_forward, &pow_backward}; }
OpDef sub_op() { return {"", "Sub", 6, &arith_forward<Arith::kSub>, &sub_backward}; }
OpDef xor_op() { return {"", "Xor", 1, &logic_forward<Logic::kXor>, nullptr}; }

}  // namespace tamp::ops
