// Slice: a strided view (negative steps read backwards), copied out. The gradient writes the
// incoming gradient back through the same view into zeros.
#include <tamp/autograd/kernels/layout.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

#include <algorithm>
#include <limits>

namespace tamp::ops {

namespace {

// The input's shape and the (small) index lists, so backward can rebuild the view.
struct Saved {
  Shape x_shape;
  Tensor starts, ends, axes, steps;  // undefined when omitted (or attributes, before opset 10)
};

struct SliceView {
  Shape shape;                   // of the output
  std::vector<int64_t> strides;  // element strides into the input
  int64_t offset = 0;
};

std::vector<int64_t> list_input(const std::vector<Tensor>& in, size_t i, const char* what) {
  Tensor t = optional_input(in, i);
  return t.defined() ? to_int64s(t, what) : std::vector<int64_t>{};
}

// ONNX Slice semantics: negative starts/ends count from the end; starts clamp to [0, d]
// ([0, d-1] for negative steps) and ends to [0, d] ([-1, d-1] for negative steps).
SliceView slice_view(const Shape& in_shape, const OpContext& ctx, const std::vector<Tensor>& in) {
  std::vector<int64_t> starts, ends, axes, steps;
  if (ctx.opset < 10) {  // attributes before opset 10
    starts = ctx.attrs().ints("starts");
    ends = ctx.attrs().ints("ends");
    axes = ctx.attrs().ints("axes", {});
  } else {
    starts = list_input(in, 1, "starts");
    ends = list_input(in, 2, "ends");
    TAMP_CHECK(optional_input(in, 1).defined() && optional_input(in, 2).defined(),
               "Slice needs starts and ends");
    axes = list_input(in, 3, "axes");
    steps = list_input(in, 4, "steps");
  }
  const int rank = static_cast<int>(in_shape.size());
  TAMP_CHECK(starts.size() == ends.size(), "{} starts but {} ends", starts.size(), ends.size());
  if (axes.empty()) {
    TAMP_CHECK(static_cast<int>(starts.size()) <= rank, "{} starts for an input of rank {}",
               starts.size(), rank);
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (steps.empty()) steps.assign(starts.size(), 1);
  TAMP_CHECK(axes.size() == starts.size() && steps.size() == starts.size(),
             "starts, ends, axes and steps have {}, {}, {} and {} entries", starts.size(),
             ends.size(), axes.size(), steps.size());
  SliceView v{in_shape, strides_of(in_shape), 0};
  const auto axis_list = normalize_axes(axes, rank);
  for (size_t i = 0; i < axis_list.size(); ++i) {
    const int a = axis_list[i];
    const int64_t d = in_shape[a], step = steps[i];
    TAMP_CHECK(step != 0, "step 0 on axis {}", a);
    // d <= INT64_MAX, so adding d to a negative value never overflows.
    int64_t s = starts[i] < 0 ? starts[i] + d : starts[i];
    int64_t e = ends[i] < 0 ? ends[i] + d : ends[i];
    int64_t count;
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, d);
      e = std::clamp<int64_t>(e, 0, d);
      count = e > s ? (e - s - 1) / step + 1 : 0;
    } else {
      s = std::clamp<int64_t>(s, 0, d - 1);
      e = std::clamp<int64_t>(e, -1, d - 1);
      // -step may overflow for INT64_MIN; any step beyond -d behaves like -d.
      const int64_t back = step < -d ? d : -step;
      count = s > e && back > 0 ? (s - e - 1) / back + 1 : 0;
    }
    v.shape[a] = count;
    v.offset += count > 0 ? s * v.strides[a] : 0;
    v.strides[a] *= count > 1 ? step : 1;
  }
  return v;
}

std::vector<Tensor> slice_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "data");
  const SliceView v = slice_view(x.shape(), ctx, in);
  Tensor out = Tensor::empty(v.shape, x.dtype());
  kernels::copy_strided(x.raw_data(), v.strides, v.offset, out.raw_data(), strides_of(v.shape), 0,
                        v.shape, size_of(x.dtype()));
  if (ctx.any_grad()) {
    ctx.save(Saved{x.shape(), optional_input(in, 1), optional_input(in, 2), optional_input(in, 3),
                   optional_input(in, 4)});
  }
  return {out};
}

std::vector<Tensor> slice_backward(OpContext& ctx, const std::vector<Tensor>& g) {
  const Saved& s = ctx.saved_as<Saved>();
  const Shape& in_shape = s.x_shape;
  const SliceView v = slice_view(in_shape, ctx, {Tensor(), s.starts, s.ends, s.axes, s.steps});
  Tensor dx = Tensor::zeros(in_shape, g[0].dtype());
  kernels::copy_strided(g[0].raw_data(), strides_of(v.shape), 0, dx.raw_data(), v.strides, v.offset,
                        v.shape, size_of(dx.dtype()));
  return {dx};
}

}  // namespace

OpDef slice_op() { return {"", "Slice", 1, &slice_forward, &slice_backward, {1, 2, 3, 4}}; }

}  // namespace tamp::ops
