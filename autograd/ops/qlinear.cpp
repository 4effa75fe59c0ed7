// ConvInteger, QLinearConv and QLinearMatMul (ONNX, opset 10): the integer convolution and
// the quantized-in / quantized-out Conv and MatMul of ONNX's QOperator format. Forward only:
// tamp runs them to evaluate exported QOperator models.
//
// The integer sums are exact: (x - x_zp) and (w - w_zp) are small integers, so Conv in
// float64 adds them without rounding (|sum| < 2^53). Under IntegerArithmetic::kX86Int16Pairs
// a uint8 x int8 QLinearConv sums as ONNX Runtime's AVX2 kernels do (integer_dot.h), along
// the filter order MLAS packs for both its paths (ConvSym and im2col + QGEMM): kernel
// position outer, input channel inner; depthwise convolutions stay exact (MLAS widens them
// to 32 bits). Requantization follows ONNX Runtime:
// one float multiplier per output channel (column), x_scale * w_scale / y_scale, applied to
// the int32 sum (plus the int32 bias), rounded half to even, plus y_zero_point, saturated.
#include <tamp/autograd/kernels/conv.h>
#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/ops/conv_geometry.h>
#include <tamp/autograd/ops/integer_dot.h>
#include <tamp/autograd/ops/op_helpers.h>
#include <tamp/autograd/ops/ops.h>

#include <cmath>
#include <limits>

namespace tamp::ops {

namespace {

bool is_8bit(DType t) { return t == DType::kInt8 || t == DType::kUInt8; }

double int_at(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kInt8: return t.data<int8_t>()[i];
    case DType::kUInt8: return t.data<uint8_t>()[i];
    case DType::kInt32: return t.data<int32_t>()[i];
    default: throw Error(fmt::format("expected an int8, uint8 or int32 tensor, got {}", describe(t)), ErrorKind::kUnsupported);
  }
}

// A scalar, or one value per output channel (`channels`), of a scale or zero point.
std::vector<double> per_channel(const Tensor& t, int64_t channels, const char* name, bool allow_vector) {
  if (!t.defined()) return {0.0};
  TAMP_CHECK(t.numel() == 1 || (allow_vector && t.rank() == 1 && t.numel() == channels),
             "{} {} must be a scalar{}", name, describe(t),
             allow_vector ? fmt::format(" or have {} values (one per output channel)", channels) : "");
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.dtype() == DType::kFloat32 ? t.data<float>()[i] : int_at(t, i);
  return v;
}

void check_scales(const std::vector<double>& s, const char* name) {
  for (double v : s) TAMP_CHECK(std::isfinite(v) && v > 0, "{} {} must be finite and positive", name, v);
}

double at(const std::vector<double>& v, int64_t c) { return v.size() == 1 ? v[0] : v[static_cast<size_t>(c)]; }

// (N, M, out...) sums of the uint8 x and int8 w under kX86Int16Pairs, as double: the raw
// products in saturating pairs, the zero points applied exactly through sums, as MLAS does.
// Padding reads x's zero point (the value ONNX Runtime's im2col and indirection buffers hold).
Tensor x86_int16_pairs_conv(const kernels::ConvShape& s, const Tensor& x, int32_t zx, const Tensor& w,
                            const std::vector<double>& zw, const Shape& y_shape) {
  const int64_t cg = s.in_channels / s.groups, mg = s.out_channels / s.groups, ks = s.kernel_size();
  const int64_t k = ks * cg, out_size = s.out_size(), in_size = s.in_size();
  // Each filter in (kernel position, input channel) order, with its sum.
  std::vector<int8_t> filters(static_cast<size_t>(s.out_channels * k));
  std::vector<int64_t> filter_sums(static_cast<size_t>(s.out_channels), 0);
  const int8_t* pw = w.data<int8_t>();
  for (int64_t m = 0; m < s.out_channels; ++m) {
    for (int64_t c = 0; c < cg; ++c) {
      for (int64_t p = 0; p < ks; ++p) {
        filters[m * k + p * cg + c] = pw[(m * cg + c) * ks + p];
        filter_sums[m] += pw[(m * cg + c) * ks + p];
      }
    }
  }
  Tensor y = Tensor::empty(y_shape, DType::kFloat64);
  double* py = y.data<double>();
  const uint8_t* px = x.data<uint8_t>();
  kernels::parallel_for(s.batch * s.groups * out_size, 64, [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> patch(static_cast<size_t>(k));  // one output position's inputs, filter order
    for (int64_t t = begin; t < end; ++t) {
      const int64_t o = t % out_size, grp = (t / out_size) % s.groups, n = t / (out_size * s.groups);
      const int64_t od[3] = {o / (s.out[1] * s.out[2]), (o / s.out[2]) % s.out[1], o % s.out[2]};
      int64_t patch_sum = 0;
      for (int64_t p = 0; p < ks; ++p) {
        const int64_t kd[3] = {p / (s.kernel[1] * s.kernel[2]), (p / s.kernel[2]) % s.kernel[1], p % s.kernel[2]};
        int64_t offset = 0;
        bool inside = true;
        for (int d = 0; d < 3; ++d) {
          const int64_t i = od[d] * s.stride[d] - s.pad[d] + kd[d] * s.dilation[d];
          inside = inside && i >= 0 && i < s.in[d];
          offset = offset * s.in[d] + i;
        }
        for (int64_t c = 0; c < cg; ++c) {
          const uint8_t v = inside ? px[(n * s.in_channels + grp * cg + c) * in_size + offset] : static_cast<uint8_t>(zx);
          patch[p * cg + c] = v;
          patch_sum += v;
        }
      }
      for (int64_t mm = 0; mm < mg; ++mm) {
        const int64_t m = grp * mg + mm;
        const int64_t zpw = static_cast<int64_t>(at(zw, m));
        const int64_t raw = x86_int16_pair_dot(patch.data(), filters.data() + m * k, k);
        py[(n * s.out_channels + m) * out_size + o] =
            wrap_int32(raw - zx * filter_sums[m] - zpw * patch_sum + k * zx * zpw);
      }
    }
  });
  return y;
}

// (N, M, out...) int32 sums of the convolution of x - x_zp with w - w_zp (w_zp per M), as double.
Tensor integer_conv(const OpContext& ctx, const Tensor& x, const Tensor& x_zp, const Tensor& w, const Tensor& w_zp) {
  TAMP_CHECK(is_8bit(x.dtype()) && is_8bit(w.dtype()), "x {} and w {} must be int8 or uint8", describe(x), describe(w));
  TAMP_CHECK(w.rank() >= 3, "w {} must have rank >= 3", describe(w));
  if (x_zp.defined()) expect_same_dtype(x, x_zp, "x and x_zero_point");
  if (w_zp.defined()) expect_same_dtype(w, w_zp, "w and w_zero_point");
  const int64_t m = w.dim(0);
  const double zx = per_channel(x_zp, 1, "x_zero_point", false)[0];
  const auto zw = per_channel(w_zp, m, "w_zero_point", true);
  Tensor xd = Tensor::empty(x.shape(), DType::kFloat64), wd = Tensor::empty(w.shape(), DType::kFloat64);
  for (int64_t i = 0; i < x.numel(); ++i) xd.data<double>()[i] = int_at(x, i) - zx;
  const int64_t per_m = w.numel() / std::max<int64_t>(m, 1);
  for (int64_t i = 0; i < w.numel(); ++i) wd.data<double>()[i] = int_at(w, i) - at(zw, i / per_m);
  const ConvGeometry g = conv_geometry(ctx.attrs(), xd, wd, Tensor());
  const bool depthwise = g.shape.in_channels == g.shape.groups && g.shape.out_channels == g.shape.groups;
  if (ctx.integer_arithmetic == IntegerArithmetic::kX86Int16Pairs && x.dtype() == DType::kUInt8 &&
      w.dtype() == DType::kInt8 && !depthwise) {
    return x86_int16_pairs_conv(g.shape, x, static_cast<int32_t>(zx), w, zw, g.y_shape);
  }
  Tensor y = Tensor::empty(g.y_shape, DType::kFloat64);
  kernels::conv_forward<double>(g.shape, xd.data<double>(), wd.data<double>(), nullptr, y.data<double>());
  return y;
}

int32_t to_int32(double v) { return wrap_int32(static_cast<int64_t>(v)); }

std::vector<Tensor> conv_integer(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor acc = integer_conv(ctx, input(in, 0, "x"), optional_input(in, 2), input(in, 1, "w"), optional_input(in, 3));
  Tensor y = Tensor::empty(acc.shape(), DType::kInt32);
  for (int64_t i = 0; i < acc.numel(); ++i) y.data<int32_t>()[i] = to_int32(acc.data<double>()[i]);
  return {y};
}

// y = saturate(round_half_even(float(acc + bias) * multiplier[channel]) + zp) of zp's type.
// acc (rows, channels, inner) in element order; channel c of element i is (i / inner) % channels.
Tensor requantize(const Tensor& acc, const std::vector<double>& bias, const std::vector<float>& multiplier,
                  int64_t channels, int64_t inner, const Tensor& y_zp) {
  TAMP_CHECK(is_8bit(y_zp.dtype()) && y_zp.numel() == 1, "y_zero_point {} must be an int8 or uint8 scalar",
             describe(y_zp));
  const float zp = static_cast<float>(int_at(y_zp, 0));
  const float lo = y_zp.dtype() == DType::kInt8 ? -128.0f : 0.0f, hi = y_zp.dtype() == DType::kInt8 ? 127.0f : 255.0f;
  Tensor y = Tensor::empty(acc.shape(), y_zp.dtype());
  for (int64_t i = 0; i < acc.numel(); ++i) {
    const int64_t c = (i / inner) % channels;
    const int32_t sum = to_int32(acc.data<double>()[i] + (bias.empty() ? 0.0 : bias[static_cast<size_t>(c)]));
    float v = std::nearbyint(static_cast<float>(sum) * multiplier[multiplier.size() == 1 ? 0 : c]) + zp;
    v = v < lo ? lo : (v > hi ? hi : v);
    if (y.dtype() == DType::kInt8) y.data<int8_t>()[i] = static_cast<int8_t>(v);
    else y.data<uint8_t>()[i] = static_cast<uint8_t>(v);
  }
  return y;
}

std::vector<float> multipliers(const std::vector<double>& a, const std::vector<double>& b, double y) {
  std::vector<float> m(std::max(a.size(), b.size()));
  for (size_t c = 0; c < m.size(); ++c) {
    // In float, as ONNX Runtime computes its output scales.
    m[c] = static_cast<float>(a[a.size() == 1 ? 0 : c]) * static_cast<float>(b[b.size() == 1 ? 0 : c]) /
           static_cast<float>(y);
  }
  return m;
}

std::vector<Tensor> qlinear_conv(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "x");
  const Tensor& w = input(in, 3, "w");
  TAMP_CHECK(w.rank() >= 3, "w {} must have rank >= 3", describe(w));
  const int64_t m = w.dim(0);
  const auto sx = per_channel(input(in, 1, "x_scale"), 1, "x_scale", false);
  const auto sw = per_channel(input(in, 4, "w_scale"), m, "w_scale", true);
  const auto sy = per_channel(input(in, 6, "y_scale"), 1, "y_scale", false);
  check_scales(sx, "x_scale");
  check_scales(sw, "w_scale");
  check_scales(sy, "y_scale");
  const Tensor acc = integer_conv(ctx, x, input(in, 2, "x_zero_point"), w, input(in, 5, "w_zero_point"));
  std::vector<double> bias;
  if (const Tensor b = optional_input(in, 8); b.defined()) {
    TAMP_CHECK(b.dtype() == DType::kInt32 && b.rank() == 1 && b.dim(0) == m, "B {} must be int32 [{}]", describe(b), m);
    for (int64_t c = 0; c < m; ++c) bias.push_back(b.data<int32_t>()[c]);
  }
  const int64_t inner = acc.numel() / std::max<int64_t>(acc.dim(0) * m, 1);
  return {requantize(acc, bias, multipliers(sx, sw, sy[0]), m, inner, input(in, 7, "y_zero_point"))};
}

std::vector<Tensor> qlinear_matmul(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& a = input(in, 0, "a");
  const Tensor& b = input(in, 3, "b");
  TAMP_CHECK(a.rank() >= 2 && b.rank() >= 2, "a {} and b {} must have rank >= 2", describe(a), describe(b));
  const int64_t n = b.dim(-1);
  // Per-tensor a; b per tensor or per column (1-D [N]), the layouts exporters write.
  const auto sa = per_channel(input(in, 1, "a_scale"), 1, "a_scale", false);
  const auto sb = per_channel(input(in, 4, "b_scale"), n, "b_scale", true);
  const auto sy = per_channel(input(in, 6, "y_scale"), 1, "y_scale", false);
  check_scales(sa, "a_scale");
  check_scales(sb, "b_scale");
  check_scales(sy, "y_scale");
  const Tensor& b_zp = input(in, 5, "b_zero_point");
  TAMP_CHECK(b_zp.numel() == static_cast<int64_t>(sb.size()), "b_zero_point {} and b_scale must have one shape",
             describe(b_zp));
  const Tensor a_zp = input(in, 2, "a_zero_point").reshape({});
  const Tensor b_zp_arg = b_zp.numel() == 1 ? b_zp.reshape({}) : b_zp;
  static const OpDef& matmul_integer = OpRegistry::builtin().get("", "MatMulInteger", 10);
  CallOptions sums;  // the integer arithmetic this op runs under, for MatMulInteger's sums
  sums.integer_arithmetic = ctx.integer_arithmetic;
  const Tensor acc32 = run(matmul_integer, {a, b, a_zp, b_zp_arg}, nullptr, sums).at(0);
  Tensor acc = Tensor::empty(acc32.shape(), DType::kFloat64);
  for (int64_t i = 0; i < acc.numel(); ++i) acc.data<double>()[i] = acc32.data<int32_t>()[i];
  return {requantize(acc, {}, multipliers(sa, sb, sy[0]), n, 1, input(in, 7, "y_zero_point"))};
}

}  // namespace

OpDef conv_integer_op() { return {"", "ConvInteger", 10, &conv_integer, nullptr}; }
OpDef qlinear_conv_op() { return {"", "QLinearConv", 10, &qlinear_conv, nullptr}; }
OpDef qlinear_matmul_op() { return {"", "QLinearMatMul", 10, &qlinear_matmul, nullptr}; }

}  // namespace tamp::ops
