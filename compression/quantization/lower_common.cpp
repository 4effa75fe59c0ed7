#include <tamp/compression/quantization/lower.h>
#include <tamp/compression/quantization/lower_common.h>

#include <cmath>
#include <limits>

namespace tamp::compression {

const std::vector<WritableRange>& writable_ranges() {
  static const std::vector<WritableRange> ranges{
      {-128, 127, true, true},
      {0, 255, true, true},
      // Weights only: QuantizeLinear saturates to [-128, 127], so a narrow activation would
      // not compute in ONNX Runtime what training simulated.
      {-127, 127, true, false},
  };
  return ranges;
}

std::string unwritable_reason(int64_t quant_min, int64_t quant_max, bool is_weight) {
  std::string writable;
  for (const WritableRange& r : writable_ranges()) {
    if (!(is_weight ? r.weights : r.activations)) continue;
    if (r.quant_min == quant_min && r.quant_max == quant_max) return "";
    writable += fmt::format("{}[{}, {}]", writable.empty() ? "" : ", ", r.quant_min, r.quant_max);
  }
  const double bits = std::log2(static_cast<double>(quant_max - quant_min + 1));
  return fmt::format("{} quantized to [{}, {}] ({:.3g} bits) cannot be exported: the QDQ / QOperator export writes "
                     "{} {}",
                     is_weight ? "a weight" : "an activation", quant_min, quant_max, bits,
                     is_weight ? "weights in" : "activations in", writable);
}

}  // namespace tamp::compression

namespace tamp::compression::detail {

DType check_lowerable(const nn::Graph& g, const FakeQuantSite& s, const nn::Node& n) {
  const std::string where = fmt::format("FakeQuantize '{}' (of '{}')", n.name, s.value);
  if (!s.bypass_node.empty()) {
    throw Error(fmt::format("{} was never calibrated: its activation is still bypassed", where),
                ErrorKind::kInvalidInput, "finalize the QAT / static PTQ component (run at least one batch) before export");
  }
  const int64_t qmin = n.attrs->i("quant_min", -128), qmax = n.attrs->i("quant_max", 127);
  if (const std::string why = unwritable_reason(qmin, qmax, s.is_weight); !why.empty()) {
    throw Error(fmt::format("{}: {}", where, why), ErrorKind::kUnsupported,
                "quantize to one of those ranges; 4-bit weights export through weight-only quantization (MatMulNBits)");
  }
  auto si = g.initializers.find(s.scale);
  auto zi = g.initializers.find(s.zero_point);
  TAMP_CHECK(si != g.initializers.end() && zi != g.initializers.end(),
             "{}: scale '{}' and zero point '{}' must be initializers", where, s.scale, s.zero_point);
  const Tensor& scale = si->second;
  const Tensor& zp = zi->second;
  TAMP_CHECK(scale.dtype() == DType::kFloat32 && zp.shape() == scale.shape() && scale.rank() <= 1,
             "{}: scale {} and zero point {} must be float32 scalars or vectors of one shape", where,
             describe(scale), describe(zp));
  for (int64_t i = 0; i < scale.numel(); ++i) {
    const double v = scale.at(i);
    if (!(std::isfinite(v) && v > 0)) {
      throw Error(fmt::format("{}: scale[{}] is {}; scales must be finite and positive", where, i, v),
                  ErrorKind::kNumerical, "re-run calibration; a NaN scale comes from NaN activations or weights");
    }
    const double z = zp.at(i);
    TAMP_CHECK(std::isfinite(z) && z == std::nearbyint(z) && z >= static_cast<double>(qmin) && z <= static_cast<double>(qmax),
               "{}: zero point[{}] = {} is not an integer in [{}, {}]", where, i, z, qmin, qmax);
  }
  return qmin < 0 ? DType::kInt8 : DType::kUInt8;
}

Tensor integers_as(const Tensor& t, DType type) {
  Tensor out = Tensor::empty(t.shape(), type);
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double v = t.at(i);
    if (type == DType::kInt8) out.data<int8_t>()[i] = static_cast<int8_t>(v);
    else if (type == DType::kUInt8) out.data<uint8_t>()[i] = static_cast<uint8_t>(v);
    else if (type == DType::kInt32) out.data<int32_t>()[i] = static_cast<int32_t>(v);
    else throw Error(fmt::format("integers_as: unsupported type {}", dtype_name(type)), ErrorKind::kInternal);
  }
  return out;
}

Tensor quantize_tensor(const Tensor& x, const Tensor& scale, const Tensor& zp, int axis, float qmin, float qmax,
                       DType type) {
  TAMP_CHECK(x.dtype() == DType::kFloat32, "quantize_tensor: x must be float32, got {}", describe(x));
  int64_t channels = 1, inner = 1;
  if (scale.numel() > 1) {
    const int a = axis < 0 ? axis + x.rank() : axis;
    TAMP_CHECK(a >= 0 && a < x.rank() && x.dim(a) == scale.numel(), "scale {} does not match axis {} of {}",
               describe(scale), axis, describe(x));
    channels = x.dim(a);
    for (int d = a + 1; d < x.rank(); ++d) inner *= x.dim(d);
  }
  Tensor q = Tensor::empty(x.shape(), DType::kFloat32);
  const float* px = x.data<float>();
  const float* ps = scale.data<float>();
  const float* pz = zp.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t c = channels == 1 ? 0 : (i / inner) % channels;
    float v = std::nearbyint(px[i] / ps[c]) + pz[c];  // as FakeQuantize and QuantizeLinear
    q.data<float>()[i] = v < qmin ? qmin : (v > qmax ? qmax : v);
  }
  return integers_as(q, type);
}

}  // namespace tamp::compression::detail
