// QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear (ONNX, opset 13 semantics with
// per-axis scales; the 8- and 16-bit integer types of opset 21, QuantizeLinear's output_dtype).
// Forward only: tamp trains through FakeQuantize (fake_quantize.cpp) and runs these to
// evaluate exported QDQ models. Opset 19's float8 types and saturate attribute (float8 only)
// and opset 21's int4 types are not tamp dtypes: their tensors are refused where they are read;
// opset 21's blocked scales (block_size > 0) are refused here.
#include <tamp/autograd/kernels/quantize.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace tamp::ops {

namespace {

kernels::QuantLayout layout_for(const Tensor& x, const Tensor& scale, const OpContext& ctx) {
  if (ctx.attrs().i("block_size", 0) != 0) {
    throw Error(
        fmt::format(
            "blocked quantization (block_size {}) is not supported; per-tensor and per-axis are",
            ctx.attrs().i("block_size", 0)),
        ErrorKind::kUnsupported);
  }
  kernels::QuantLayout l;
  if (scale.numel() == 1 && scale.rank() <= 1) return l;
  TAMP_CHECK(scale.rank() == 1, "scale must be a scalar or 1-D, got {}", describe(scale));
  TAMP_CHECK(ctx.opset >= 13, "per-axis scale {} needs opset >= 13", describe(scale));
  const int axis = normalize_axis(ctx.attrs().i("axis", 1), x.rank());
  TAMP_CHECK(scale.dim(0) == x.dim(axis), "scale {} does not match axis {} of {}", describe(scale),
             axis, describe(x));
  l.channels = x.dim(axis);
  l.inner = numel(x.shape(), axis + 1, x.rank());
  return l;
}

void check_scales(const Tensor& scale) {
  const float* s = scale.data<float>();
  for (int64_t i = 0; i < scale.numel(); ++i) {
    TAMP_CHECK(std::isfinite(s[i]) && s[i] > 0, "scale[{}] = {} must be finite and positive", i,
               s[i]);
  }
}

template <class Q> void quantize_into(const Tensor& x, const Tensor& scale, const Tensor& zp,
                                      const kernels::QuantLayout& l, Tensor& out) {
  const float* px = x.data<float>();
  const float* ps = scale.data<float>();
  const Q* pz = zp.defined() ? zp.data<Q>() : nullptr;
  Q* po = out.data<Q>();
  const float qmin = static_cast<float>(std::numeric_limits<Q>::min());
  const float qmax = static_cast<float>(std::numeric_limits<Q>::max());
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t c = l.channel_of(i);
    po[i] =
        static_cast<Q>(kernels::quantize_value(px[i], ps[c], pz ? float(pz[c]) : 0.0f, qmin, qmax));
  }
}

std::vector<Tensor> quantize_linear(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "x");
  const Tensor& scale = input(in, 1, "y_scale");
  const Tensor zp = optional_input(in, 2);
  TAMP_CHECK(x.dtype() == DType::kFloat32 && scale.dtype() == DType::kFloat32,
             "x {} and y_scale {} must be float32", describe(x), describe(scale));
  check_scales(scale);
  const auto l = layout_for(x, scale, ctx);
  const int64_t output_dtype =
      ctx.attrs().i("output_dtype", 0);  // opset 21; 0: from zp, else uint8
  const DType out_type = zp.defined()   ? zp.dtype()
                         : output_dtype ? dtype_from_onnx(output_dtype)
                                        : DType::kUInt8;
  if (zp.defined() && output_dtype) {
    TAMP_CHECK(dtype_from_onnx(output_dtype) == zp.dtype(),
               "output_dtype {} differs from y_zero_point {}", output_dtype, describe(zp));
  }
  if (zp.defined())
    TAMP_CHECK(zp.numel() == scale.numel(), "y_zero_point {} and y_scale {} differ", describe(zp),
               describe(scale));
  Tensor out = Tensor::empty(x.shape(), out_type);
  switch (out_type) {
    case DType::kUInt8:
      quantize_into<uint8_t>(x, scale, zp, l, out);
      break;
    case DType::kInt8:
      quantize_into<int8_t>(x, scale, zp, l, out);
      break;
    case DType::kUInt16:
      quantize_into<uint16_t>(x, scale, zp, l, out);
      break;
    case DType::kInt16:
      quantize_into<int16_t>(x, scale, zp, l, out);
      break;
    default:
      throw Error(fmt::format("quantizing to {} is not supported (uint8, int8, uint16, int16 are)",
                              dtype_name(out_type)),
                  ErrorKind::kUnsupported);
  }
  return {out};
}

template <class Q> void dequantize_into(const Tensor& x, const Tensor& scale, const Tensor& zp,
                                        const kernels::QuantLayout& l, Tensor& out) {
  const Q* px = x.data<Q>();
  const float* ps = scale.data<float>();
  const Q* pz = zp.defined() ? zp.data<Q>() : nullptr;
  float* po = out.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t c = l.channel_of(i);
    // (q - zp) in integers first, as ONNX Runtime does, then one float multiply.
    const int64_t centered = static_cast<int64_t>(px[i]) - (pz ? static_cast<int64_t>(pz[c]) : 0);
    po[i] = static_cast<float>(centered) * ps[c];
  }
}

std::vector<Tensor> dequantize_linear(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "x");
  const Tensor& scale = input(in, 1, "x_scale");
  const Tensor zp = optional_input(in, 2);
  TAMP_CHECK(scale.dtype() == DType::kFloat32, "x_scale must be float32, got {}", describe(scale));
  if (zp.defined()) {
    expect_same_dtype(x, zp, "x and x_zero_point");
    TAMP_CHECK(zp.numel() == scale.numel(), "x_zero_point {} and x_scale {} differ", describe(zp),
               describe(scale));
  }
  const auto l = layout_for(x, scale, ctx);
  Tensor out = Tensor::empty(x.shape(), DType::kFloat32);
  switch (x.dtype()) {
    case DType::kUInt8:
      dequantize_into<uint8_t>(x, scale, zp, l, out);
      break;
    case DType::kInt8:
      dequantize_into<int8_t>(x, scale, zp, l, out);
      break;
    case DType::kUInt16:
      dequantize_into<uint16_t>(x, scale, zp, l, out);
      break;
    case DType::kInt16:
      dequantize_into<int16_t>(x, scale, zp, l, out);
      break;
    case DType::kInt32:
      dequantize_into<int32_t>(x, scale, zp, l, out);
      break;
    default:
      throw Error(
          fmt::format("x of type {} is not supported (uint8, int8, uint16, int16, int32 are)",
                      dtype_name(x.dtype())),
          ErrorKind::kUnsupported);
  }
  return {out};
}

// y = QuantizeLinear(x) with a uint8 range covering [min(x, 0), max(x, 0)].
std::vector<Tensor> dynamic_quantize_linear(OpContext&, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "x");
  TAMP_CHECK(x.dtype() == DType::kFloat32, "x must be float32, got {}", describe(x));
  const float* px = x.data<float>();
  float lo = 0, hi = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    lo = std::min(lo, px[i]);
    hi = std::max(hi, px[i]);
  }
  float scale = (hi - lo) / 255.0f;
  if (scale == 0) scale = 1;  // an all-zero input: any scale represents it exactly
  const float zp = std::clamp(std::nearbyint(0.0f - lo / scale), 0.0f, 255.0f);
  Tensor y = Tensor::empty(x.shape(), DType::kUInt8);
  uint8_t* py = y.data<uint8_t>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    py[i] = static_cast<uint8_t>(kernels::quantize_value(px[i], scale, zp, 0.0f, 255.0f));
  }
  Tensor zp_t = Tensor::empty({}, DType::kUInt8);
  zp_t.data<uint8_t>()[0] = static_cast<uint8_t>(zp);
  return {y, Tensor::scalar(scale), zp_t};
}

}  // namespace

OpDef dequantize_linear_op() { return {"", "DequantizeLinear", 10, &dequantize_linear, nullptr}; }
OpDef dynamic_quantize_linear_op() {
  return {"", "DynamicQuantizeLinear", 11, &dynamic_quantize_linear, nullptr};
}
OpDef quantize_linear_op() { return {"", "QuantizeLinear", 10, &quantize_linear, nullptr}; }

}  // namespace tamp::ops
