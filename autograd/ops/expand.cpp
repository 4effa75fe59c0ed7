// Expand (broadcast to a shape) and Tile (repeat along each axis): strided copies with zero
// strides. Expand's gradient is the output gradient as is (the engine sums it down to the
// input's shape); Tile's sums the repeats.
#include <tamp/autograd/kernels/layout.h>
#include <tamp/autograd/kernels/reduce.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

namespace tamp::ops {

namespace {

struct TileSaved {
  Shape view_shape;  // (repeats[0], x.shape[0], repeats[1], ...)
};

std::vector<Tensor> expand_forward(OpContext&, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "input");
  const auto target = to_int64s(input(in, 1, "shape"), "shape");
  for (int64_t d : target) TAMP_CHECK(d >= 0, "shape {} has a negative dim", to_string(target));
  const Shape shape = broadcast_shapes(x.shape(), target);
  check_output_size(shape, x.dtype(), "Expand");
  return {kernels::expand_to(x, shape)};
}

std::vector<Tensor> expand_backward(OpContext&, const std::vector<Tensor>& g) {
  return {g[0], Tensor()};
}

// Tile as a copy into the view (r0, d0, r1, d1, ...) of the output, reading the input with
// stride 0 along each repeat dim.
std::vector<Tensor> tile_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "input");
  const auto repeats = to_int64s(input(in, 1, "repeats"), "repeats");
  TAMP_CHECK(static_cast<int>(repeats.size()) == x.rank(), "{} repeats for an input of rank {}",
             repeats.size(), x.rank());
  Shape out_shape, view_shape;
  std::vector<int64_t> src;
  const auto strides = strides_of(x.shape());
  for (int d = 0; d < x.rank(); ++d) {
    TAMP_CHECK(repeats[d] >= 0, "repeats has the negative value {}", repeats[d]);
    view_shape.insert(view_shape.end(), {repeats[d], x.shape()[d]});
    src.insert(src.end(), {0, strides[d]});
  }
  check_output_size(view_shape, x.dtype(), "Tile");  // same count as out_shape, overflow-checked
  for (int d = 0; d < x.rank(); ++d) out_shape.push_back(repeats[d] * x.shape()[d]);
  Tensor out = Tensor::empty(out_shape, x.dtype());
  kernels::copy_strided(x.raw_data(), src, 0, out.raw_data(), strides_of(view_shape), 0, view_shape,
                        size_of(x.dtype()));
  if (ctx.any_grad()) ctx.save(TileSaved{view_shape});
  return {out};
}

std::vector<Tensor> tile_backward(OpContext& ctx, const std::vector<Tensor>& g) {
  const Shape& view_shape = ctx.saved_as<TileSaved>().view_shape;
  std::vector<int> repeat_axes;
  Shape in_shape;
  for (size_t d = 0; d < view_shape.size(); d += 2) {
    repeat_axes.push_back(static_cast<int>(d));
    in_shape.push_back(view_shape[d + 1]);
  }
  Tensor summed = kernels::reduce(g[0].reshape(view_shape), repeat_axes, kernels::ReduceKind::kSum);
  return {summed.reshape(in_shape), Tensor()};
}

}  // namespace

OpDef expand_op() { return {"", "Expand", 8, &expand_forward, &expand_backward, {1}}; }
OpDef tile_op() { return {"", "Tile", 6, &tile_forward, &tile_backward, {1}}; }

}  // namespace tamp::ops
