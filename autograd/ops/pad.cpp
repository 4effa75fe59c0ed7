// Pad in constant, reflect, edge and wrap modes, any dtype. Every mode is a per-axis index
// map from output to input positions (-1: the constant), so negative pads (cropping) and the
// gradient (a scatter-add through the same maps) come for free.
#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

#include <cstdlib>
#include <cstring>

namespace tamp::ops {

namespace {

// The input's shape and the inputs plan() reads, so backward can rebuild the plan.
struct Saved {
  Shape x_shape;
  Tensor pads, axes;  // undefined when omitted (or attributes, before opset 11)
};

enum class Mode { kConstant, kReflect, kEdge, kWrap };

Mode mode_of(const OpContext& ctx) {
  const std::string m = ctx.attrs().s("mode", "constant");
  if (m == "constant") return Mode::kConstant;
  if (m == "reflect") return Mode::kReflect;
  if (m == "edge") return Mode::kEdge;
  if (m == "wrap") return Mode::kWrap;
  throw Error(fmt::format("unknown mode '{}' (constant, reflect, edge or wrap)", m));
}

// For each axis, the input index each output index reads (-1: the constant value).
// The output shape has been checked (check_output_size), so the maps are small enough.
std::vector<std::vector<int64_t>> index_maps(const Shape& in, const Shape& out_shape,
                                             const std::vector<int64_t>& begin, Mode mode) {
  std::vector<std::vector<int64_t>> maps(in.size());
  for (size_t d = 0; d < in.size(); ++d) {
    const int64_t n = in[d], out = out_shape[d];
    TAMP_CHECK(mode == Mode::kConstant || n > 0 || out == 0,
               "cannot pad the empty axis {} in this mode", d);
    auto& m = maps[d];
    m.resize(static_cast<size_t>(out));
    for (int64_t o = 0; o < out; ++o) {
      const int64_t i = o - begin[d];
      if (i >= 0 && i < n) {
        m[o] = i;
        continue;
      }
      switch (mode) {
        case Mode::kConstant:
          m[o] = -1;
          break;
        case Mode::kEdge:
          m[o] = i < 0 ? 0 : n - 1;
          break;
        case Mode::kWrap:
          m[o] = ((i % n) + n) % n;
          break;
        case Mode::kReflect: {  // as numpy: reflect about the edge elements, repeatedly
          if (n == 1) {
            m[o] = 0;
            break;
          }
          const int64_t period = 2 * (n - 1);
          const int64_t j = ((i % period) + period) % period;
          m[o] = j < n ? j : period - j;
        }
      }
    }
  }
  return maps;
}

struct PadPlan {
  Shape in_shape, out_shape;
  std::vector<std::vector<int64_t>> maps;
};

PadPlan plan(const OpContext& ctx, const std::vector<Tensor>& in, const Shape& shape, DType dtype) {
  const int rank = static_cast<int>(shape.size());
  std::vector<int64_t> pads;
  std::vector<int> axes;
  if (ctx.opset < 11) {
    pads = ctx.attrs().ints("pads");
  } else {
    pads = to_int64s(input(in, 1, "pads"), "pads");
    Tensor a = optional_input(in, 3);
    if (a.defined()) axes = normalize_axes(to_int64s(a, "axes"), rank);
  }
  if (axes.empty())
    for (int d = 0; d < rank; ++d) axes.push_back(d);
  const size_t k = axes.size();
  TAMP_CHECK(pads.size() == 2 * k, "pads has {} values, expected {} for {} axes", pads.size(),
             2 * k, k);
  std::vector<int64_t> begin(rank, 0), end(rank, 0);
  for (size_t i = 0; i < k; ++i) {
    begin[axes[i]] = pads[i];
    end[axes[i]] = pads[k + i];
  }
  PadPlan p{shape, {}, {}};
  for (int d = 0; d < rank; ++d) {
    // |pads| < 2^62 keeps the sum below from overflowing.
    const bool sane =
        std::abs(begin[d]) < (int64_t{1} << 62) && std::abs(end[d]) < (int64_t{1} << 62);
    TAMP_CHECK(sane && shape[d] + begin[d] + end[d] >= 0,
               "pads {} and {} on axis {} of size {} leave a negative size", begin[d], end[d], d,
               shape[d]);
    p.out_shape.push_back(shape[d] + begin[d] + end[d]);
  }
  check_output_size(p.out_shape, dtype, "Pad");
  // The maps hold one int64 per output index of each axis: at most one per output element.
  check_output_size(p.out_shape, DType::kInt64, "Pad");
  const Mode mode = mode_of(ctx);
  if (numel(p.out_shape) > 0) p.maps = index_maps(shape, p.out_shape, begin, mode);
  return p;
}

// Calls f(out_row, in_row_offset or -1) for every output row (all dims but the last).
template <class F> void for_each_row(const PadPlan& p, F f) {
  const int rank = static_cast<int>(p.out_shape.size());
  const auto strides = strides_of(p.in_shape);
  const int64_t rows = numel(p.out_shape, 0, std::max(rank - 1, 0));
  for (int64_t r = 0; r < rows; ++r) {
    int64_t rem = r, off = 0;
    for (int d = rank - 2; d >= 0 && off >= 0; --d) {
      const int64_t m = p.maps[d][rem % p.out_shape[d]];
      rem /= p.out_shape[d];
      off = m < 0 ? -1 : off + m * strides[d];
    }
    f(r, off);
  }
}

template <class W> void pad_rows(const PadPlan& p, const W* src, W* dst, W value) {
  const int rank = static_cast<int>(p.out_shape.size());
  const int64_t inner = rank ? p.out_shape[rank - 1] : 1;
  static const std::vector<int64_t> kScalarMap{0};
  const auto& map = rank ? p.maps[rank - 1] : kScalarMap;
  for_each_row(p, [&](int64_t r, int64_t off) {
    W* out = dst + r * inner;
    if (off < 0) {
      std::fill(out, out + inner, value);
      return;
    }
    for (int64_t j = 0; j < inner; ++j) out[j] = map[j] < 0 ? value : src[off + map[j]];
  });
}

std::vector<Tensor> pad_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "data");
  const PadPlan p = plan(ctx, in, x.shape(), x.dtype());
  Tensor value = Tensor::zeros({}, x.dtype());
  if (ctx.opset < 11) {
    value.fill(ctx.attrs().f("value", 0.0f));
  } else if (Tensor v = optional_input(in, 2); v.defined()) {
    TAMP_CHECK(v.dtype() == x.dtype() && v.numel() == 1,
               "constant_value must be a {} scalar, got {}", dtype_name(x.dtype()), describe(v));
    std::memcpy(value.raw_data(), v.raw_data(), size_of(x.dtype()));
  }
  if (ctx.any_grad()) ctx.save(Saved{x.shape(), optional_input(in, 1), optional_input(in, 3)});
  Tensor out = Tensor::empty(p.out_shape, x.dtype());
  if (out.numel() == 0) return {out};
  auto run = [&](auto tag) {
    using W = decltype(tag);
    pad_rows<W>(p, static_cast<const W*>(x.raw_data()), static_cast<W*>(out.raw_data()),
                *static_cast<const W*>(value.raw_data()));
  };
  dispatch_by_size(x.dtype(), run);
  return {out};
}

// Scatter-add through the maps; serial because edge and reflect read an input element from
// several output positions.
std::vector<Tensor> pad_backward(OpContext& ctx, const std::vector<Tensor>& g) {
  const Saved& s = ctx.saved_as<Saved>();
  const Shape& shape = s.x_shape;
  const PadPlan p = plan(ctx, {Tensor(), s.pads, Tensor(), s.axes}, shape, g[0].dtype());
  Tensor dx = Tensor::zeros(shape, g[0].dtype());
  if (g[0].numel() == 0) return {dx, Tensor(), Tensor(), Tensor()};
  dispatch_float(dx.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int rank = static_cast<int>(shape.size());
    const int64_t inner = rank ? p.out_shape[rank - 1] : 1;
    const T* src = g[0].data<T>();
    T* dst = dx.data<T>();
    if (rank == 0) {
      dst[0] = src[0];
      return;
    }
    const auto& map = p.maps[rank - 1];
    for_each_row(p, [&](int64_t r, int64_t off) {
      if (off < 0) return;
      const T* row = src + r * inner;
      for (int64_t j = 0; j < inner; ++j)
        if (map[j] >= 0) dst[off + map[j]] += row[j];
    });
  });
  return {dx, Tensor(), Tensor(), Tensor()};
}

}  // namespace

OpDef pad_op() { return {"", "Pad", 2, &pad_forward, &pad_backward, {1, 2, 3}}; }

}  // namespace tamp::ops
