// ConvInteger, QLinearConv and QLinearMatMul (ONNX, opset 10): the integer convolution and
// the quantized-in / quantized-out Conv and MatMul of ONNX's QOperator format. Forward only:
// tamp runs them to evaluate exported QOperator models.
//
// The integer sums run in kernels::int8_conv (im2col + the integer GEMM), exact int32 sums.
// Under IntegerArithmetic::kX86Int16Pairs a uint8 x int8 QLinearConv sums as ONNX Runtime's
// AVX2 kernels do (kernels/int8_gemm.h), along the filter order MLAS packs for both its paths
// (ConvSym and im2col + QGEMM): kernel position outer, input channel inner; depthwise
// convolutions stay exact (MLAS widens them to 32 bits). Requantization follows ONNX Runtime:
// one float multiplier per output channel (column), x_scale * w_scale / y_scale, applied to
// the int32 sum (plus the int32 bias), rounded half to even, plus y_zero_point, saturated.
#include <tamp/autograd/kernels/int8_conv.h>
#include <tamp/autograd/kernels/requantize.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/conv_geometry.h>
#include <tamp/autograd/ops/op_helpers.h>

#include <cmath>

namespace tamp::ops {

namespace {

bool is_8bit(DType t) { return t == DType::kInt8 || t == DType::kUInt8; }

double int_at(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kInt8:
      return t.data<int8_t>()[i];
    case DType::kUInt8:
      return t.data<uint8_t>()[i];
    case DType::kInt32:
      return t.data<int32_t>()[i];
    default:
      throw Error(fmt::format("expected an int8, uint8 or int32 tensor, got {}", describe(t)),
                  ErrorKind::kUnsupported);
  }
}

// A scalar, or one value per output channel (`channels`), of a scale or zero point.
std::vector<double> per_channel(const Tensor& t, int64_t channels, const char* name,
                                bool allow_vector) {
  if (!t.defined()) return {0.0};
  TAMP_CHECK(
      t.numel() == 1 || (allow_vector && t.rank() == 1 && t.numel() == channels),
      "{} {} must be a scalar{}", name, describe(t),
      allow_vector ? fmt::format(" or have {} values (one per output channel)", channels) : "");
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i)
    v[i] = t.dtype() == DType::kFloat32 ? t.data<float>()[i] : int_at(t, i);
  return v;
}

void check_scales(const std::vector<double>& s, const char* name) {
  for (double v : s)
    TAMP_CHECK(std::isfinite(v) && v > 0, "{} {} must be finite and positive", name, v);
}

double at(const std::vector<double>& v, int64_t c) {
  return v.size() == 1 ? v[0] : v[static_cast<size_t>(c)];
}

// The convolution of x - x_zp with w - w_zp (w_zp per M): its int32 sums (N, M, out...), or
// with `r` those sums requantized to r's 8-bit type (`type`).
Tensor integer_conv(const OpContext& ctx, const Tensor& x, const Tensor& x_zp, const Tensor& w,
                    const Tensor& w_zp, const kernels::Requantization* r = nullptr,
                    DType type = DType::kInt32) {
  TAMP_CHECK(is_8bit(x.dtype()) && is_8bit(w.dtype()), "x {} and w {} must be int8 or uint8",
             describe(x), describe(w));
  TAMP_CHECK(w.rank() >= 3, "w {} must have rank >= 3", describe(w));
  if (x_zp.defined()) expect_same_dtype(x, x_zp, "x and x_zero_point");
  if (w_zp.defined()) expect_same_dtype(w, w_zp, "w and w_zero_point");
  const int64_t m = w.dim(0);
  const auto zx = static_cast<int32_t>(per_channel(x_zp, 1, "x_zero_point", false)[0]);
  const auto zw = per_channel(w_zp, m, "w_zero_point", true);
  std::vector<int32_t> zw_per_m(static_cast<size_t>(m));
  for (int64_t c = 0; c < m; ++c) zw_per_m[c] = static_cast<int32_t>(at(zw, c));
  // conv_geometry reads the shapes and wants one dtype for both (a uint8 x may meet an int8 w).
  const ConvGeometry g = conv_geometry(
      ctx.attrs(), x, w.dtype() == x.dtype() ? w : Tensor::empty(w.shape(), x.dtype()), Tensor());
  const kernels::ConvShape& s = g.shape;
  // MLAS widens depthwise convolutions to 32 bits: exact on every CPU.
  const bool depthwise = s.in_channels == s.groups && s.out_channels == s.groups;
  const bool pairs = ctx.integer_arithmetic == IntegerArithmetic::kX86Int16Pairs &&
                     x.dtype() == DType::kUInt8 && w.dtype() == DType::kInt8 && !depthwise;
  Tensor y = Tensor::empty(g.y_shape, type);
  if (y.numel() == 0) return y;
  const kernels::Int8ConvInput xi{x.raw_data(), x.dtype() == DType::kInt8, zx};
  const kernels::Int8ConvWeights wi{w.raw_data(), w.dtype() == DType::kInt8, zw_per_m.data()};
  if (r) {
    kernels::int8_conv_requantized(s, xi, wi, pairs, *r, y.raw_data());
  } else {
    kernels::int8_conv(s, xi, wi, pairs, y.data<int32_t>());
  }
  return y;
}

std::vector<Tensor> conv_integer(OpContext& ctx, const std::vector<Tensor>& in) {
  return {integer_conv(ctx, input(in, 0, "x"), optional_input(in, 2), input(in, 1, "w"),
                       optional_input(in, 3))};
}

// ONNX Runtime's requantization (kernels/requantize.h) to y_zp's type; bias and multiplier
// must outlive its use.
kernels::Requantization requantization(const std::vector<int32_t>& bias,
                                       const std::vector<float>& multiplier, const Tensor& y_zp) {
  TAMP_CHECK(is_8bit(y_zp.dtype()) && y_zp.numel() == 1,
             "y_zero_point {} must be an int8 or uint8 scalar", describe(y_zp));
  return {bias.empty() ? nullptr : bias.data(), multiplier.data(), multiplier.size() > 1,
          static_cast<int32_t>(int_at(y_zp, 0)), y_zp.dtype() == DType::kInt8};
}

std::vector<float> multipliers(const std::vector<double>& a, const std::vector<double>& b,
                               double y) {
  std::vector<float> m(std::max(a.size(), b.size()));
  for (size_t c = 0; c < m.size(); ++c) {
    // In float, as ONNX Runtime computes its output scales.
    m[c] = static_cast<float>(a[a.size() == 1 ? 0 : c]) *
           static_cast<float>(b[b.size() == 1 ? 0 : c]) / static_cast<float>(y);
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
  std::vector<int32_t> bias;
  if (const Tensor b = optional_input(in, 8); b.defined()) {
    TAMP_CHECK(b.dtype() == DType::kInt32 && b.rank() == 1 && b.dim(0) == m,
               "B {} must be int32 [{}]", describe(b), m);
    bias.assign(b.data<int32_t>(), b.data<int32_t>() + m);
  }
  const std::vector<float> multiplier = multipliers(sx, sw, sy[0]);
  const Tensor& y_zp = input(in, 7, "y_zero_point");
  const kernels::Requantization r = requantization(bias, multiplier, y_zp);
  return {integer_conv(ctx, x, input(in, 2, "x_zero_point"), w, input(in, 5, "w_zero_point"), &r,
                       y_zp.dtype())};
}

std::vector<Tensor> qlinear_matmul(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& a = input(in, 0, "a");
  const Tensor& b = input(in, 3, "b");
  TAMP_CHECK(a.rank() >= 2 && b.rank() >= 2, "a {} and b {} must have rank >= 2", describe(a),
             describe(b));
  const int64_t n = b.dim(-1);
  // Per-tensor a; b per tensor or per column (1-D [N]), the layouts exporters write.
  const auto sa = per_channel(input(in, 1, "a_scale"), 1, "a_scale", false);
  const auto sb = per_channel(input(in, 4, "b_scale"), n, "b_scale", true);
  const auto sy = per_channel(input(in, 6, "y_scale"), 1, "y_scale", false);
  check_scales(sa, "a_scale");
  check_scales(sb, "b_scale");
  check_scales(sy, "y_scale");
  const Tensor& b_zp = input(in, 5, "b_zero_point");
  TAMP_CHECK(b_zp.numel() == static_cast<int64_t>(sb.size()),
             "b_zero_point {} and b_scale must have one shape", describe(b_zp));
  const Tensor a_zp = input(in, 2, "a_zero_point").reshape({});
  const Tensor b_zp_arg = b_zp.numel() == 1 ? b_zp.reshape({}) : b_zp;
  static const OpDef& matmul_integer = OpRegistry::builtin().get("", "MatMulInteger", 10);
  CallOptions sums;  // the integer arithmetic this op runs under, for MatMulInteger's sums
  sums.integer_arithmetic = ctx.integer_arithmetic;
  const Tensor acc = run(matmul_integer, {a, b, a_zp, b_zp_arg}, nullptr, sums).at(0);
  const std::vector<float> multiplier = multipliers(sa, sb, sy[0]);
  const Tensor& y_zp = input(in, 7, "y_zero_point");
  const kernels::Requantization r = requantization({}, multiplier, y_zp);
  Tensor y = Tensor::empty(acc.shape(), y_zp.dtype());
  if (y.numel() > 0) kernels::requantize(acc.data<int32_t>(), y.numel() / n, n, 1, r, y.raw_data());
  return {y};
}

}  // namespace

OpDef conv_integer_op() { return {"", "ConvInteger", 10, &conv_integer, nullptr}; }
OpDef qlinear_conv_op() { return {"", "QLinearConv", 10, &qlinear_conv, nullptr}; }
OpDef qlinear_matmul_op() { return {"", "QLinearMatMul", 10, &qlinear_matmul, nullptr}; }

}  // namespace tamp::ops
