// Concat and Split along one axis: block copies viewing each tensor as (outer, len, inner).
// Each is the other's gradient.
#include <tamp/autograd/kernels/layout.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

namespace tamp::ops {

namespace {

// Copies src (outer, len, inner) into dst (outer, dst_len, inner) at position `offset` of
// the middle dim, or the reverse when `from_dst`.
void copy_block(const Tensor& src, Tensor& dst, int axis, int64_t offset, bool from_dst) {
  const Tensor& part = from_dst ? dst : src;
  const Tensor& whole = from_dst ? src : dst;
  const int64_t outer = numel(part.shape(), 0, axis);
  const int64_t len = part.shape()[axis];
  const int64_t inner = numel(part.shape(), axis + 1, part.rank());
  const int64_t whole_len = whole.shape()[axis];
  const std::vector<int64_t> part_strides{len * inner, inner, 1};
  const std::vector<int64_t> whole_strides{whole_len * inner, inner, 1};
  const Shape shape{outer, len, inner};
  if (from_dst) {
    kernels::copy_strided(src.raw_data(), whole_strides, offset * inner, dst.raw_data(),
                          part_strides, 0, shape, size_of(src.dtype()));
  } else {
    kernels::copy_strided(src.raw_data(), part_strides, 0, dst.raw_data(), whole_strides,
                          offset * inner, shape, size_of(src.dtype()));
  }
}

// The slab [start, start + len) of `t` along `axis`, as a new tensor.
Tensor slab(const Tensor& t, int axis, int64_t start, int64_t len) {
  Shape shape = t.shape();
  shape[axis] = len;
  Tensor out = Tensor::empty(shape, t.dtype());
  copy_block(t, out, axis, start, true);
  return out;
}

struct ConcatSaved {
  std::vector<int64_t> sizes;  // each input's extent on the axis
};

struct SplitSaved {
  std::vector<int64_t> sizes;  // each output's extent on the axis
  Shape x_shape;
};

// Joins `parts` along `axis`; undefined parts (no gradient) are zeros of sizes[i].
Tensor join(const std::vector<Tensor>& parts, int axis, const std::vector<int64_t>& sizes,
            Shape shape, DType dtype) {
  int64_t total = 0;
  for (int64_t s : sizes) total += s;
  shape[axis] = total;
  bool all = true;
  for (const auto& p : parts) all = all && p.defined();
  Tensor out = all ? Tensor::empty(shape, dtype) : Tensor::zeros(shape, dtype);
  int64_t offset = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].defined()) copy_block(parts[i], out, axis, offset, false);
    offset += sizes[i];
  }
  return out;
}

std::vector<Tensor> concat_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  TAMP_CHECK(!in.empty(), "Concat needs at least one input");
  const Tensor& first = input(in, 0, "inputs");
  const int axis = normalize_axis(ctx.attrs().i("axis"), first.rank());
  std::vector<int64_t> sizes;
  for (size_t i = 0; i < in.size(); ++i) {
    const Tensor& t = input(in, i, "inputs");
    TAMP_CHECK(t.dtype() == first.dtype() && t.rank() == first.rank(),
               "input {} is {} but input 0 is {}", i, describe(t), describe(first));
    for (int d = 0; d < t.rank(); ++d) {
      TAMP_CHECK(d == axis || t.shape()[d] == first.shape()[d],
                 "input {} is {} but input 0 is {}: they differ off axis {}", i, describe(t),
                 describe(first), axis);
    }
    sizes.push_back(t.shape()[axis]);
  }
  if (ctx.any_grad()) ctx.save(ConcatSaved{sizes});
  return {join(in, axis, sizes, first.shape(), first.dtype())};
}

std::vector<Tensor> concat_backward(OpContext& ctx, const std::vector<Tensor>& g) {
  const std::vector<int64_t>& sizes = ctx.saved_as<ConcatSaved>().sizes;
  const int axis = normalize_axis(ctx.attrs().i("axis"), g[0].rank());
  std::vector<Tensor> grads(sizes.size());
  int64_t offset = 0;
  for (size_t i = 0; i < grads.size(); ++i) {
    const int64_t len = sizes[i];
    if (ctx.needs_grad[i]) grads[i] = slab(g[0], axis, offset, len);
    offset += len;
  }
  return grads;
}

// Split sizes: the `split` input (opset 13) or attribute (before), else equal parts, one per
// output; when the axis does not divide, the last part is smaller (as opset 18 specifies).
std::vector<int64_t> split_sizes(const OpContext& ctx, const std::vector<Tensor>& in, int64_t dim) {
  std::vector<int64_t> sizes;
  Tensor split = optional_input(in, 1);
  if (split.defined())
    sizes = to_int64s(split, "split");
  else if (ctx.attrs().has("split"))
    sizes = ctx.attrs().ints("split");
  if (!sizes.empty()) {
    int64_t total = 0;
    for (int64_t s : sizes) {
      TAMP_CHECK(s >= 0 && s <= dim, "split size {} is invalid for an axis of {}", s, dim);
      total += s;
    }
    TAMP_CHECK(total == dim, "split sizes add up to {} but the axis has {}", total, dim);
    TAMP_CHECK(ctx.num_outputs < 0 || ctx.num_outputs == static_cast<int>(sizes.size()),
               "{} split sizes for {} outputs", sizes.size(), ctx.num_outputs);
    return sizes;
  }
  const int64_t parts = ctx.attrs().i("num_outputs", ctx.num_outputs);
  TAMP_CHECK(parts > 0, "Split without sizes needs its number of outputs (run it as a graph node)");
  TAMP_CHECK(parts <= std::max<int64_t>(dim, 65536), "an axis of {} cannot be split into {} parts",
             dim, parts);
  const int64_t chunk = (dim + parts - 1) / parts;
  TAMP_CHECK(dim == 0 || (parts - 1) * chunk < dim, "an axis of {} cannot be split into {} parts",
             dim, parts);
  for (int64_t i = 0; i < parts; ++i)
    sizes.push_back(std::min(chunk, dim - std::min(dim, i * chunk)));
  return sizes;
}

std::vector<Tensor> split_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "input");
  const int axis = normalize_axis(ctx.attrs().i("axis", 0), x.rank());
  const auto sizes = split_sizes(ctx, in, x.shape()[axis]);
  std::vector<Tensor> outs;
  int64_t offset = 0;
  for (int64_t len : sizes) {
    outs.push_back(slab(x, axis, offset, len));
    offset += len;
  }
  if (ctx.any_grad()) ctx.save(SplitSaved{sizes, x.shape()});
  return outs;
}

std::vector<Tensor> split_backward(OpContext& ctx, const std::vector<Tensor>& g) {
  const SplitSaved& saved = ctx.saved_as<SplitSaved>();
  const auto& sizes = saved.sizes;
  const auto& shape = saved.x_shape;
  const int axis = normalize_axis(ctx.attrs().i("axis", 0), static_cast<int>(shape.size()));
  DType dtype = DType::kFloat32;
  for (const auto& t : g)
    if (t.defined()) dtype = t.dtype();
  std::vector<Tensor> parts(g.begin(), g.end());
  parts.resize(sizes.size());
  return {join(parts, axis, sizes, shape, dtype)};
}

}  // namespace

OpDef concat_op() { return {"", "Concat", 4, &concat_forward, &concat_backward}; }
OpDef split_op() { return {"", "Split", 2, &split_forward, &split_backward, {1}}; }

}  // namespace tamp::ops
