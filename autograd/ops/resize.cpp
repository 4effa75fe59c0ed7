// Resize (opsets 11-21): nearest, linear and cubic interpolation, separable: one pass per
// resized axis, each output index a weighted sum of a few input indices (taps) along that
// axis, computed as ONNX's reference does: the coordinate transformation modes (half_pixel,
// half_pixel_symmetric from opset 19, pytorch_half_pixel, align_corners, asymmetric,
// tf_crop_and_resize with roi and extrapolation_value, opset 11's tf_half_pixel_for_nn), the
// nearest rounding modes, cubic_coeff_a and exclude_outside, and from opset 18 axes, antialias (the
// filter stretched by 1 / scale when downscaling) and keep_aspect_ratio_policy. Taps outside the
// input read the edge. The gradient runs the passes transposed (a scatter-add of the same weights).
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

#include <algorithm>
#include <cmath>

namespace tamp::ops {

namespace {

// The input's shape and the inputs plan_of reads, so backward can replay the passes.
struct Saved {
  Shape x_shape;
  Tensor roi, scales, sizes;  // undefined when omitted
};

// Output index y of one axis reads input indices idx[y * n + t] with weights w[y * n + t];
// an extrapolated y (tf_crop_and_resize outside the input) is extrapolation_value.
struct AxisTaps {
  int axis = 0;
  int64_t in = 0, out = 0;
  int n = 0;
  std::vector<int64_t> idx;
  std::vector<double> w;
  std::vector<char> extrapolated;
};

struct Plan {
  std::vector<AxisTaps> passes;  // axes whose size, scale or roi is not the identity
  Shape out_shape;
  double extrapolation = 0;
};

// The source coordinate of output index y (ONNX's coordinate_transformation_mode).
double source_coordinate(const std::string& mode, double y, double scale, int64_t in,
                         int64_t out_int, double roi_start, double roi_end) {
  const double out = scale * static_cast<double>(in);  // may be fractional
  if (mode == "half_pixel") return (y + 0.5) / scale - 0.5;
  if (mode == "half_pixel_symmetric") {
    const double offset = static_cast<double>(in) / 2 * (1 - static_cast<double>(out_int) / out);
    return offset + (y + 0.5) / scale - 0.5;
  }
  if (mode == "pytorch_half_pixel") return out_int > 1 ? (y + 0.5) / scale - 0.5 : -0.5;
  if (mode == "align_corners") return out == 1 ? 0.0 : y * static_cast<double>(in - 1) / (out - 1);
  if (mode == "asymmetric") return y / scale;
  if (mode == "tf_half_pixel_for_nn") return (y + 0.5) / scale;  // opset 11 only
  if (mode == "tf_crop_and_resize") {
    const double span = static_cast<double>(in - 1);
    if (out == 1) return 0.5 * (roi_start + roi_end) * span;
    return roi_start * span + y * (roi_end - roi_start) * span / (out - 1);
  }
  throw Error(fmt::format("unknown coordinate_transformation_mode '{}'", mode));
}

double cubic_kernel(double x, double a) {
  x = std::abs(x);
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

// Weights of the taps base + start .. for a coordinate base + ratio (ratio in (0, 1]).
std::vector<double> weights(const OpContext& ctx, const std::string& mode, double ratio,
                            double scale, int& start) {
  const auto& at = ctx.attrs();
  if (mode == "nearest") {
    start = 0;
    if (ratio == 1) return {0, 1};
    const std::string nearest = at.s("nearest_mode", "round_prefer_floor");
    bool right;
    if (nearest == "round_prefer_floor")
      right = ratio > 0.5;
    else if (nearest == "round_prefer_ceil")
      right = ratio >= 0.5;
    else if (nearest == "floor")
      right = false;
    else if (nearest == "ceil")
      right = true;
    else
      throw Error(fmt::format("unknown nearest_mode '{}'", nearest));
    return {right ? 0.0 : 1.0, right ? 1.0 : 0.0};
  }
  const bool antialias = at.i("antialias", 0) != 0;
  const double s = antialias ? std::min(scale, 1.0) : 1.0;
  const double support = mode == "linear" ? 1 : 2;
  start = static_cast<int>(std::floor(-support / s)) + 1;
  const int n = 2 - 2 * start;
  const double a = at.f("cubic_coeff_a", -0.75f);
  std::vector<double> w(static_cast<size_t>(n));
  double sum = 0;
  for (int t = 0; t < n; ++t) {
    const double x = s * (start + t - ratio);
    w[t] = mode == "linear" ? std::max(0.0, 1 - std::abs(x)) : cubic_kernel(x, a);
    sum += w[t];
  }
  if (antialias)
    for (double& v : w) v /= sum;
  return w;
}

AxisTaps taps_of(const OpContext& ctx, const std::string& mode, int axis, int64_t in, int64_t out,
                 double scale, double roi_start, double roi_end) {
  const std::string transform = ctx.attrs().s("coordinate_transformation_mode", "half_pixel");
  const bool exclude_outside = ctx.attrs().i("exclude_outside", 0) != 0;
  AxisTaps taps{axis, in, out, 0, {}, {}, std::vector<char>(static_cast<size_t>(out), 0)};
  for (int64_t y = 0; y < out; ++y) {
    const double x =
        source_coordinate(transform, static_cast<double>(y), scale, in, out, roi_start, roi_end);
    if (transform == "tf_crop_and_resize" && (x < 0 || x > static_cast<double>(in - 1)))
      taps.extrapolated[y] = 1;
    const double floor_x = std::floor(x);
    const double ratio = x == floor_x ? 1.0 : x - floor_x;  // the pixel left of x is preferred
    const int64_t base = static_cast<int64_t>(floor_x) - (x == floor_x ? 1 : 0);
    int start = 0;
    std::vector<double> w = weights(ctx, mode, ratio, scale, start);
    if (taps.n == 0) taps.n = static_cast<int>(w.size());
    double kept = 0;
    for (size_t t = 0; t < w.size(); ++t) {
      const int64_t i = base + start + static_cast<int64_t>(t);
      if (exclude_outside && (i < 0 || i >= in)) w[t] = 0;
      kept += w[t];
      taps.idx.push_back(std::clamp<int64_t>(i, 0, in - 1));
    }
    if (exclude_outside && kept != 0)
      for (double& v : w) v /= kept;
    taps.w.insert(taps.w.end(), w.begin(), w.end());
  }
  return taps;
}

Plan plan_of(const OpContext& ctx, const std::vector<Tensor>& in, const Shape& x_shape) {
  const auto& at = ctx.attrs();
  const int rank = static_cast<int>(x_shape.size());
  const std::string mode = at.s("mode", "nearest");
  TAMP_CHECK(mode == "nearest" || mode == "linear" || mode == "cubic", "unknown mode '{}'", mode);
  std::vector<int> axes;
  if (at.has("axes"))
    axes = normalize_axes(at.ints("axes"), rank);
  else
    for (int d = 0; d < rank; ++d) axes.push_back(d);
  const size_t k = axes.size();
  const Tensor roi = optional_input(in, 1), scales = optional_input(in, 2),
               sizes = optional_input(in, 3);
  const bool has_scales = scales.defined() && scales.numel() > 0,
             has_sizes = sizes.defined() && sizes.numel() > 0;
  TAMP_CHECK(has_scales != has_sizes, "exactly one of scales and sizes must be given");
  const bool crop = at.s("coordinate_transformation_mode", "half_pixel") == "tf_crop_and_resize";
  std::vector<double> roi_v(2 * k), scale(k);
  for (size_t i = 0; i < k; ++i) roi_v[k + i] = 1;
  if (crop) {
    TAMP_CHECK(roi.defined() && roi.numel() == static_cast<int64_t>(2 * k),
               "roi {} must hold {} values", roi.defined() ? describe(roi) : std::string("(none)"),
               2 * k);
    const Tensor r = roi.to(DType::kFloat64);
    for (size_t i = 0; i < 2 * k; ++i) roi_v[i] = r.data<double>()[i];
  }
  Shape out = x_shape;
  if (has_scales) {
    TAMP_CHECK(scales.numel() == static_cast<int64_t>(k), "scales {} must hold {} values",
               describe(scales), k);
    const Tensor s = scales.to(DType::kFloat64);
    for (size_t i = 0; i < k; ++i) {
      scale[i] = s.data<double>()[i];
      TAMP_CHECK(scale[i] > 0 && std::isfinite(scale[i]), "scale {} must be finite and positive",
                 scale[i]);
      const double size =
          static_cast<double>(x_shape[axes[i]]) * (roi_v[k + i] - roi_v[i]) * scale[i];
      TAMP_CHECK(size >= 0 && size < 9.2e18, "scale {} gives an invalid size", scale[i]);
      out[axes[i]] = static_cast<int64_t>(size);
    }
  } else {
    const auto want = to_int64s(sizes, "sizes");
    TAMP_CHECK(want.size() == k, "sizes has {} values for {} axes", want.size(), k);
    const std::string policy = at.s("keep_aspect_ratio_policy", "stretch");
    TAMP_CHECK(policy == "stretch" || policy == "not_larger" || policy == "not_smaller",
               "unknown keep_aspect_ratio_policy '{}'", policy);
    for (size_t i = 0; i < k; ++i) {
      TAMP_CHECK(want[i] >= 0 && x_shape[axes[i]] > 0, "cannot resize axis {} of {} to {}", axes[i],
                 to_string(x_shape), want[i]);
      scale[i] = static_cast<double>(want[i]) / static_cast<double>(x_shape[axes[i]]);
    }
    double common = scale[0];  // keep_aspect_ratio_policy: one scale for every axis
    for (double v : scale)
      common = policy == "not_larger" ? std::min(common, v) : std::max(common, v);
    for (size_t i = 0; i < k; ++i) {
      if (policy == "stretch") {
        out[axes[i]] = want[i];
      } else {
        scale[i] = common;
        out[axes[i]] = static_cast<int64_t>(common * static_cast<double>(x_shape[axes[i]]) + 0.5);
      }
    }
  }
  check_output_size(out, DType::kFloat32, "Resize");
  Plan p{{}, out, at.f("extrapolation_value", 0.0f)};
  for (size_t i = 0; i < k; ++i) {
    const int d = axes[i];
    const bool identity =
        scale[i] == 1 && out[d] == x_shape[d] && roi_v[i] == 0 && roi_v[k + i] == 1;
    if (identity) continue;
    TAMP_CHECK(x_shape[d] > 0 || out[d] == 0, "cannot resize the empty axis {} to {}", d, out[d]);
    p.passes.push_back(taps_of(ctx, mode, d, x_shape[d], out[d], scale[i], roi_v[i], roi_v[k + i]));
  }
  return p;
}

// One pass: x viewed as (outer, in, inner) -> (outer, out, inner), or its transpose (the
// gradient) from (outer, out, inner) back to (outer, in, inner).
template <class T>
Tensor run_pass(const Tensor& x, const AxisTaps& a, double extrapolation, bool transposed) {
  Shape shape = x.shape();
  shape[a.axis] = transposed ? a.in : a.out;
  const int64_t outer = numel(shape, 0, a.axis),
                inner = numel(shape, a.axis + 1, static_cast<int>(shape.size()));
  Tensor y = transposed ? Tensor::zeros(shape, x.dtype()) : Tensor::empty(shape, x.dtype());
  const T* src = x.data<T>();
  T* dst = y.data<T>();
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < a.out; ++j) {
      const int64_t* idx = a.idx.data() + j * a.n;
      const double* w = a.w.data() + j * a.n;
      for (int64_t i = 0; i < inner; ++i) {
        if (transposed) {
          if (a.extrapolated[j]) continue;
          const double g = static_cast<double>(src[(o * a.out + j) * inner + i]);
          for (int t = 0; t < a.n; ++t)
            dst[(o * a.in + idx[t]) * inner + i] += static_cast<T>(w[t] * g);
        } else {
          double acc = 0;
          for (int t = 0; t < a.n; ++t)
            acc += w[t] * static_cast<double>(src[(o * a.in + idx[t]) * inner + i]);
          dst[(o * a.out + j) * inner + i] =
              saturating_cast<T>(a.extrapolated[j] ? extrapolation : acc);
        }
      }
    }
  }
  return y;
}

std::vector<Tensor> resize_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "X");
  const std::string mode = ctx.attrs().s("mode", "nearest");
  if (mode != "nearest")
    TAMP_CHECK(is_floating(x.dtype()), "{} interpolation needs a float X, got {}", mode,
               describe(x));
  const Plan p = plan_of(ctx, in, x.shape());
  Tensor y = x;
  dispatch_numeric(x.dtype(), [&](auto tag) {
    for (const auto& a : p.passes) y = run_pass<decltype(tag)>(y, a, p.extrapolation, false);
  });
  if (p.passes.empty()) y = x.clone();
  if (ctx.any_grad())
    ctx.save(Saved{x.shape(), optional_input(in, 1), optional_input(in, 2), optional_input(in, 3)});
  return {y};
}

std::vector<Tensor> resize_backward(OpContext& ctx, const std::vector<Tensor>& g) {
  const Saved& s = ctx.saved_as<Saved>();
  const Plan p = plan_of(ctx, {Tensor(), s.roi, s.scales, s.sizes}, s.x_shape);
  Tensor dx = g[0];
  dispatch_float(dx.dtype(), [&](auto tag) {
    for (auto it = p.passes.rbegin(); it != p.passes.rend(); ++it)
      dx = run_pass<decltype(tag)>(dx, *it, 0, true);
  });
  return {dx, Tensor(), Tensor(), Tensor()};
}

}  // namespace

OpDef resize_op() { return {"", "Resize", 11, &resize_forward, &resize_backward, {1, 2, 3}}; }

}  // namespace tamp::ops
