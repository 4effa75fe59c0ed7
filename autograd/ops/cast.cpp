// Cast and CastLike between every tamp dtype (ONNX's string type is not one). Float to
// float casts pass the gradient back, cast to the input's dtype.
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

namespace tamp::ops {

namespace {

struct Saved {
  DType from;  // the input's dtype is all backward needs
};

std::vector<Tensor> cast_to(OpContext& ctx, const Tensor& x, DType to) {
  if (ctx.any_grad()) ctx.save(Saved{x.dtype()});
  return {x.dtype() == to ? x : x.to(to)};
}

std::vector<Tensor> cast_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "input");
  TAMP_CHECK(ctx.attrs().has("to"), "Cast needs the attribute 'to'");
  return cast_to(ctx, x, dtype_from_onnx(ctx.attrs().i("to")));
}

std::vector<Tensor> cast_like_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  return cast_to(ctx, input(in, 0, "input"), input(in, 1, "target_type").dtype());
}

std::vector<Tensor> cast_backward(OpContext& ctx, const std::vector<Tensor>& g) {
  const DType from = ctx.saved_as<Saved>().from;
  if (!is_floating(from) || !g[0].defined()) return {Tensor(), Tensor()};
  return {g[0].dtype() == from ? g[0] : g[0].to(from), Tensor()};
}

}  // namespace

OpDef cast_like_op() { return {"", "CastLike", 15, &cast_like_forward, &cast_backward, {1}}; }
OpDef cast_op() { return {"", "Cast", 6, &cast_forward, &cast_backward}; }

}  // namespace tamp::ops
