// Ops that only relabel the shape: Reshape, Flatten, Squeeze, Unsqueeze, Identity (all
// share the input's storage, forward and backward), and Shape and Size.
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

#include <algorithm>
#include <optional>

namespace tamp::ops {

namespace {

// The input's shape, kept for backward without keeping the input's data alive.
struct RelabelSaved {
  Shape x_shape;
};

std::vector<Tensor> relabel(OpContext& ctx, const Tensor& x, Shape shape) {
  if (ctx.any_grad()) ctx.save(RelabelSaved{x.shape()});
  return {x.reshape(std::move(shape))};
}

std::vector<Tensor> relabel_backward(OpContext& ctx, const std::vector<Tensor>& g) {
  return {g[0].reshape(ctx.saved_as<RelabelSaved>().x_shape)};
}

// ONNX Reshape: 0 copies the input dim (unless allowzero), -1 is inferred.
Shape reshape_target(const Shape& in, const std::vector<int64_t>& spec, bool allowzero) {
  const int64_t n = numel(in);
  Shape out(spec.size());
  int infer = -1;
  for (size_t i = 0; i < spec.size(); ++i) {
    const int64_t d = spec[i];
    if (d == -1) {
      TAMP_CHECK(infer < 0, "shape {} has more than one -1", to_string(spec));
      infer = static_cast<int>(i);
      out[i] = 1;
    } else if (d == 0 && !allowzero) {
      TAMP_CHECK(i < in.size(), "shape {} copies dim {} (0) but the input {} has rank {}",
                 to_string(spec), i, to_string(in), in.size());
      out[i] = in[i];
    } else {
      TAMP_CHECK(d >= 0, "shape {} has the negative dim {}", to_string(spec), d);
      out[i] = d;
    }
  }
  const int64_t known = checked_numel(out);
  if (infer >= 0) {
    TAMP_CHECK(known != 0, "shape {} cannot infer its -1 next to a 0 dim", to_string(spec));
    TAMP_CHECK(n % known == 0, "cannot reshape {} ({} elements) to {}", to_string(in), n,
               to_string(spec));
    out[infer] = n / known;
  } else {
    TAMP_CHECK(known == n, "cannot reshape {} ({} elements) to {} ({} elements)", to_string(in), n,
               to_string(out), known);
  }
  return out;
}

std::vector<Tensor> reshape_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "data");
  const auto spec = to_int64s(input(in, 1, "shape"), "shape");
  const bool allowzero = ctx.attrs().i("allowzero", 0) != 0;
  return relabel(ctx, x, reshape_target(x.shape(), spec, allowzero));
}

std::vector<Tensor> flatten_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "input");
  int64_t axis = ctx.attrs().i("axis", 1);
  TAMP_CHECK(axis >= -x.rank() && axis <= x.rank(), "axis {} is out of range for {}", axis,
             describe(x));
  if (axis < 0) axis += x.rank();
  const int a = static_cast<int>(axis);
  return relabel(ctx, x, {numel(x.shape(), 0, a), numel(x.shape(), a, x.rank())});
}

// Squeeze/Unsqueeze axes: an input from opset 13, an attribute before.
std::optional<std::vector<int64_t>> axes_of(OpContext& ctx, const std::vector<Tensor>& in) {
  Tensor t = optional_input(in, 1);
  if (t.defined()) return to_int64s(t, "axes");
  if (ctx.attrs().has("axes")) return ctx.attrs().ints("axes");
  return std::nullopt;
}

std::vector<Tensor> squeeze_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "data");
  std::vector<bool> drop(x.shape().size(), false);
  if (auto axes = axes_of(ctx, in)) {
    for (int a : normalize_axes(*axes, x.rank())) {
      TAMP_CHECK(x.shape()[a] == 1, "cannot squeeze axis {} of {}: its size is not 1", a,
                 describe(x));
      drop[a] = true;
    }
  } else {
    for (size_t d = 0; d < drop.size(); ++d) drop[d] = x.shape()[d] == 1;
  }
  Shape out;
  for (size_t d = 0; d < drop.size(); ++d)
    if (!drop[d]) out.push_back(x.shape()[d]);
  return relabel(ctx, x, out);
}

std::vector<Tensor> unsqueeze_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "data");
  auto axes = axes_of(ctx, in);
  TAMP_CHECK(axes.has_value(),
             "Unsqueeze needs axes (an input from opset 13, an attribute before)");
  const int rank = x.rank() + static_cast<int>(axes->size());
  std::vector<bool> inserted(static_cast<size_t>(rank), false);
  for (int a : normalize_axes(*axes, rank)) inserted[a] = true;
  Shape out;
  size_t next = 0;
  for (int d = 0; d < rank; ++d) out.push_back(inserted[d] ? 1 : x.shape()[next++]);
  return relabel(ctx, x, out);
}

std::vector<Tensor> identity_forward(OpContext&, const std::vector<Tensor>& in) {
  return {input(in, 0, "input")};
}

std::vector<Tensor> identity_backward(OpContext&, const std::vector<Tensor>& g) { return {g[0]}; }

std::vector<Tensor> shape_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "data");
  const int64_t rank = x.rank();
  // Opset 15: a slice [start, end) of the shape, clamped like Python's.
  auto clamp = [rank](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + rank : i, 0, rank); };
  const int64_t start = clamp(ctx.attrs().i("start", 0));
  const int64_t end = clamp(ctx.attrs().i("end", rank));
  Shape dims;
  for (int64_t d = start; d < end; ++d) dims.push_back(x.shape()[d]);
  return {Tensor::from_vector<int64_t>({static_cast<int64_t>(dims.size())}, dims)};
}

std::vector<Tensor> size_forward(OpContext&, const std::vector<Tensor>& in) {
  return {Tensor::from_vector<int64_t>({}, {input(in, 0, "data").numel()})};
}

}  // namespace

OpDef flatten_op() { return {"", "Flatten", 1, &flatten_forward, &relabel_backward}; }
OpDef identity_op() { return {"", "Identity", 1, &identity_forward, &identity_backward}; }
OpDef reshape_op() { return {"", "Reshape", 5, &reshape_forward, &relabel_backward, {1}}; }
OpDef shape_op() { return {"", "Shape", 1, &shape_forward, nullptr}; }
OpDef size_op() { return {"", "Size", 1, &size_forward, nullptr}; }
OpDef squeeze_op() { return {"", "Squeeze", 1, &squeeze_forward, &relabel_backward, {1}}; }
OpDef unsqueeze_op() { return {"", "Unsqueeze", 1, &unsqueeze_forward, &relabel_backward, {1}}; }

}  // namespace tamp::ops
