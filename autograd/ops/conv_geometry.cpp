#include <tamp/autograd/ops/conv_geometry.h>

#include <fmt/ranges.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace tamp::ops {

namespace {

// Strides and dilations beyond this are certainly a corrupt model, and would overflow the
// size arithmetic or ask ConvTranspose for an absurd output.
constexpr int64_t kMaxStep = int64_t{1} << 20;
// ConvTranspose grows its input; refuse outputs no real model needs rather than allocate them.
constexpr int64_t kMaxOutputElements = int64_t{1} << 32;

struct Attrs {
  int k = 0;                                                   // spatial rank
  std::vector<int64_t> kernel, strides, dilations, pads, eff;  // eff: dilated kernel extent
  std::string auto_pad;
  int64_t group = 1;
};

// `shapes` names X and W for the message.
std::vector<int64_t> ints_of_size(const Attributes& a, const char* name, size_t size,
                                  int64_t fallback, int64_t lo, int64_t hi,
                                  const std::string& shapes) {
  std::vector<int64_t> v = a.ints(name, std::vector<int64_t>(size, fallback));
  TAMP_CHECK(v.size() == size, "attribute {} {} must have {} values for {}", name, v, size, shapes);
  for (int64_t e : v) {
    TAMP_CHECK(e >= lo, "attribute {} {} must be at least {} ({})", name, v, lo, shapes);
    TAMP_CHECK(e <= hi, "attribute {} {} must be at most {} ({})", name, v, hi, shapes);
  }
  return v;
}

std::string shapes_of(const Tensor& x, const Tensor& w) {
  return fmt::format("X {}, W {}", describe(x), describe(w));
}

// What Conv and ConvTranspose read alike.
Attrs read_attrs(const Attributes& a, const Tensor& x, const Tensor& w, const Tensor& b) {
  TAMP_CHECK(x.rank() >= 3, "X {} must be (N, C, D1, ...) with at least one spatial dim",
             describe(x));
  if (x.rank() > 5) {
    throw Error(
        fmt::format("X {} has {} spatial dims; 1 to 3 are supported", describe(x), x.rank() - 2),
        ErrorKind::kUnsupported);
  }
  TAMP_CHECK(w.rank() == x.rank(), "W {} and X {} must have the same rank", describe(w),
             describe(x));
  TAMP_CHECK(w.dtype() == x.dtype(), "X {} and W {} have different dtypes", describe(x),
             describe(w));
  if (b.defined()) {
    TAMP_CHECK(b.dtype() == x.dtype(), "X {} and B {} have different dtypes", describe(x),
               describe(b));
  }
  Attrs r;
  r.k = x.rank() - 2;
  const size_t k = static_cast<size_t>(r.k);
  r.group = a.i("group", 1);
  TAMP_CHECK(r.group >= 1, "group must be at least 1, got {}", r.group);
  r.kernel.assign(w.shape().begin() + 2, w.shape().end());
  if (a.has("kernel_shape")) {
    TAMP_CHECK(a.ints("kernel_shape") == r.kernel, "kernel_shape {} does not match W {}",
               a.ints("kernel_shape"), describe(w));
  }
  const std::string shapes = shapes_of(x, w);
  r.strides = ints_of_size(a, "strides", k, 1, 1, kMaxStep, shapes);
  r.dilations = ints_of_size(a, "dilations", k, 1, 1, kMaxStep, shapes);
  r.pads = ints_of_size(a, "pads", 2 * k, 0, 0, INT64_MAX / 4, shapes);
  r.auto_pad = a.s("auto_pad", "NOTSET");
  TAMP_CHECK(r.auto_pad == "NOTSET" || r.auto_pad == "SAME_UPPER" || r.auto_pad == "SAME_LOWER" ||
                 r.auto_pad == "VALID",
             "auto_pad '{}' must be NOTSET, SAME_UPPER, SAME_LOWER or VALID", r.auto_pad);
  for (size_t i = 0; i < k; ++i) r.eff.push_back((r.kernel[i] - 1) * r.dilations[i] + 1);
  return r;
}

void check_bias(const Tensor& b, int64_t m, const Tensor& w) {
  if (!b.defined()) return;
  TAMP_CHECK(b.rank() == 1 && b.dim(0) == m,
             "B {} must be 1-D with one value per output channel ({}, from W {})", describe(b), m,
             describe(w));
}

// Splits a total padding (negative when an output_shape asks for more than the natural size)
// the way ONNX's reference does: floor division, the odd element at the end for SAME_UPPER.
void split_padding(int64_t total, bool same_upper, int64_t& begin, int64_t& end) {
  const int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
  begin = same_upper ? half : total - half;
  end = total - begin;
}

void fill_spatial(kernels::ConvShape& s, const Attrs& r, const Shape& in, const Shape& out,
                  const std::vector<int64_t>& pad_begin) {
  const int off = 3 - r.k;
  for (int i = 0; i < r.k; ++i) {
    s.in[off + i] = in[i];
    s.out[off + i] = out[i];
    s.kernel[off + i] = r.kernel[i];
    s.stride[off + i] = r.strides[i];
    s.dilation[off + i] = r.dilations[i];
    s.pad[off + i] = pad_begin[i];
  }
}

}  // namespace

ConvGeometry conv_geometry(const Attributes& a, const Tensor& x, const Tensor& w, const Tensor& b) {
  const Attrs r = read_attrs(a, x, w, b);
  const int64_t c = x.dim(1), m = w.dim(0);
  TAMP_CHECK(c % r.group == 0 && m % r.group == 0,
             "channels of X {} ({}) and of W {} ({}) must both be divisible by group {}",
             describe(x), c, describe(w), m, r.group);
  TAMP_CHECK(w.dim(1) == c / r.group,
             "W {} expects {} input channels per group, but X {} has {} / group {} = {}",
             describe(w), w.dim(1), describe(x), c, r.group, c / r.group);
  check_bias(b, m, w);

  Shape in(x.shape().begin() + 2, x.shape().end()), out(static_cast<size_t>(r.k));
  std::vector<int64_t> pad_begin(static_cast<size_t>(r.k));
  for (int i = 0; i < r.k; ++i) {
    int64_t pb = r.pads[i], pe = r.pads[i + r.k];
    if (r.auto_pad == "VALID") {
      pb = pe = 0;
    } else if (r.auto_pad != "NOTSET") {
      // SAME: out = ceil(in / stride), the odd padding at the end for SAME_UPPER.
      const int64_t target = (in[i] + r.strides[i] - 1) / r.strides[i];
      const int64_t total = std::max<int64_t>(0, (target - 1) * r.strides[i] + r.eff[i] - in[i]);
      pb = r.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pe = total - pb;
    }
    // A pad this large only adds outputs that read nothing but padding.
    TAMP_CHECK(pb <= in[i] + r.eff[i] && pe <= in[i] + r.eff[i],
               "pads {} are larger than X {} plus the kernel along spatial axis {}", r.pads,
               describe(x), i);
    const int64_t padded = in[i] + pb + pe;
    TAMP_CHECK(padded >= r.eff[i],
               "the kernel of W {} (extent {} with dilations {}) is larger than the padded input "
               "along spatial axis {}: X {}, pads [{}, {}]",
               describe(w), r.eff[i], r.dilations, i, describe(x), pb, pe);
    out[i] = (padded - r.eff[i]) / r.strides[i] + 1;
    pad_begin[i] = pb;
  }
  ConvGeometry g;
  g.shape.batch = x.dim(0);
  g.shape.in_channels = c;
  g.shape.out_channels = m;
  g.shape.groups = r.group;
  fill_spatial(g.shape, r, in, out, pad_begin);
  g.y_shape = {x.dim(0), m};
  g.y_shape.insert(g.y_shape.end(), out.begin(), out.end());
  return g;
}

ConvGeometry conv_transpose_geometry(const Attributes& a, const Tensor& x, const Tensor& w,
                                     const Tensor& b) {
  const Attrs r = read_attrs(a, x, w, b);
  const int64_t c = x.dim(1);
  TAMP_CHECK(w.dim(0) == c, "W {} must have X's {} channels on axis 0 (X {})", describe(w), c,
             describe(x));
  TAMP_CHECK(c % r.group == 0, "channels of X {} ({}) must be divisible by group {}", describe(x),
             c, r.group);
  const int64_t m = w.dim(1) * r.group;
  check_bias(b, m, w);
  const size_t k = static_cast<size_t>(r.k);

  std::vector<int64_t> out_pad =
      ints_of_size(a, "output_padding", k, 0, 0, kMaxStep, shapes_of(x, w));
  for (size_t i = 0; i < k; ++i) {
    TAMP_CHECK(
        out_pad[i] < std::max(r.strides[i], r.dilations[i]),
        "output_padding {} must be smaller than the stride {} or the dilation {} of its axis",
        out_pad, r.strides, r.dilations);
  }
  std::vector<int64_t> target;
  if (a.has("output_shape")) {
    target = a.ints("output_shape");
    // Some exporters write the full (N, C, spatial...) shape; the spatial part is what counts.
    if (target.size() == k + 2) target.erase(target.begin(), target.begin() + 2);
    TAMP_CHECK(target.size() == k, "output_shape {} must have {} spatial values",
               a.ints("output_shape"), k);
  }

  Shape in(x.shape().begin() + 2, x.shape().end()), out(k);
  std::vector<int64_t> pad_begin(k);
  for (size_t i = 0; i < k; ++i) {
    const int64_t natural = r.strides[i] * (in[i] - 1) + out_pad[i] + r.eff[i];
    int64_t want = -1;
    if (!target.empty())
      want = target[i];
    else if (r.auto_pad == "SAME_UPPER" || r.auto_pad == "SAME_LOWER")
      want = in[i] * r.strides[i];
    if (want >= 0) {
      TAMP_CHECK(
          want >= 1 && want <= 2 * natural,
          "output spatial size {} along axis {} is out of reach of X {} and W {} (natural size {})",
          want, i, describe(x), describe(w), natural);
      int64_t pe;
      split_padding(natural - want, r.auto_pad == "SAME_UPPER", pad_begin[i], pe);
      out[i] = want;
    } else {
      const int64_t pb = r.auto_pad == "VALID" ? 0 : r.pads[i];
      const int64_t pe = r.auto_pad == "VALID" ? 0 : r.pads[i + k];
      TAMP_CHECK(pb + pe < natural,
                 "pads [{}, {}] along spatial axis {} remove the whole output ({} positions from X "
                 "{} and W {})",
                 pb, pe, i, natural, describe(x), describe(w));
      out[i] = natural - pb - pe;
      pad_begin[i] = pb;
    }
  }
  ConvGeometry g;
  g.shape.batch = x.dim(0);
  g.shape.in_channels = m;  // conv orientation: Y is the input, X the output
  g.shape.out_channels = c;
  g.shape.groups = r.group;
  fill_spatial(g.shape, r, out, in, pad_begin);
  g.y_shape = {x.dim(0), m};
  g.y_shape.insert(g.y_shape.end(), out.begin(), out.end());
  TAMP_CHECK(checked_numel(g.y_shape) <= kMaxOutputElements,
             "output {} of X {} and W {} is too large", to_string(g.y_shape), describe(x),
             describe(w));
  return g;
}

}  // namespace tamp::ops
