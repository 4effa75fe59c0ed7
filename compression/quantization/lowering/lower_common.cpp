#include <tamp/compression/quantization/detail/lower_common.h>
#include <tamp/compression/quantization/lowering/lower.h>

#include <cmath>
#include <limits>

namespace tamp::compression {

std::string unwritable_reason(int64_t quant_min, int64_t quant_max, bool is_weight) {
  const double bits = std::log2(static_cast<double>(quant_max - quant_min + 1));
  if (is_weight) {
    // The stored integers are what DequantizeLinear reads, whatever part of the type they use.
    const bool fits = quant_min < quant_max && ((quant_min >= -128 && quant_max <= 127) ||
                                                (quant_min >= 0 && quant_max <= 255));
    if (fits) return "";
    return fmt::format(
        "a weight quantized to [{}, {}] ({:.3g} bits) cannot be exported: the QDQ / QOperator "
        "export "
        "writes weights of 2 to 8 bits inside int8 [-128, 127] or uint8 [0, 255]",
        quant_min, quant_max, bits);
  }
  if ((quant_min == -128 && quant_max == 127) || (quant_min == 0 && quant_max == 255)) return "";
  if (quant_min == -127 && quant_max == 127) {
    return "a narrow-range [-127, 127] activation cannot be exported: QuantizeLinear always "
           "saturates to "
           "[-128, 127], so ONNX Runtime would not compute what training simulated (narrow range "
           "suits weights)";
  }
  return fmt::format(
      "an activation quantized to [{}, {}] ({:.3g} bits) cannot be exported: QuantizeLinear "
      "saturates to the whole int8 [-128, 127] / uint8 [0, 255] range, so activations take 8 bits",
      quant_min, quant_max, bits);
}

}  // namespace tamp::compression

namespace tamp::compression::detail {

DType check_lowerable(const nn::Graph& g, const FakeQuantSite& s, const nn::Node& n) {
  const std::string where = fmt::format("FakeQuantize '{}' (of '{}')", n.name, s.value);
  if (!s.bypass_node.empty()) {
    throw Error(fmt::format("{} was never calibrated: its activation is still bypassed", where),
                ErrorKind::kInvalidInput,
                "finalize the QAT / static PTQ component (run at least one batch) before export");
  }
  const int64_t qmin = n.attrs->i("quant_min", -128), qmax = n.attrs->i("quant_max", 127);
  if (const std::string why = unwritable_reason(qmin, qmax, s.is_weight); !why.empty()) {
    throw Error(fmt::format("{}: {}", where, why), ErrorKind::kUnsupported,
                "quantize weights with 2 to 8 bits and activations with 8; 4-bit weights also "
                "export through "
                "weight-only quantization (MatMulNBits)");
  }
  auto si = g.initializers.find(s.scale);
  auto zi = g.initializers.find(s.zero_point);
  TAMP_CHECK(si != g.initializers.end() && zi != g.initializers.end(),
             "{}: scale '{}' and zero point '{}' must be initializers", where, s.scale,
             s.zero_point);
  const Tensor& scale = si->second;
  const Tensor& zp = zi->second;
  TAMP_CHECK(scale.dtype() == DType::kFloat32 && zp.shape() == scale.shape() && scale.rank() <= 1,
             "{}: scale {} and zero point {} must be float32 scalars or vectors of one shape",
             where, describe(scale), describe(zp));
  for (int64_t i = 0; i < scale.numel(); ++i) {
    const double v = scale.at(i);
    if (!(std::isfinite(v) && v > 0)) {
      throw Error(
          fmt::format("{}: scale[{}] is {}; scales must be finite and positive", where, i, v),
          ErrorKind::kNumerical,
          "re-run calibration; a NaN scale comes from NaN activations or weights");
    }
    const double z = zp.at(i);
    TAMP_CHECK(std::isfinite(z) && z == std::nearbyint(z) && z >= static_cast<double>(qmin) &&
                   z <= static_cast<double>(qmax),
               "{}: zero point[{}] = {} is not an integer in [{}, {}]", where, i, z, qmin, qmax);
  }
  return qmin < 0 ? DType::kInt8 : DType::kUInt8;
}

Tensor bias_as_int32(const std::string& node, const Tensor& bias, float s_x, const Tensor& s_w) {
  const int64_t channels = bias.numel();
  Tensor bq = Tensor::empty({channels}, DType::kInt32);
  for (int64_t c = 0; c < channels; ++c) {
    const float s = s_x * s_w.data<float>()[s_w.numel() == 1 ? 0 : c];
    const double q =
        std::nearbyint(static_cast<double>(bias.data<float>()[c]) / static_cast<double>(s));
    if (std::fabs(q) > static_cast<double>(std::numeric_limits<int32_t>::max())) {
      throw Error(fmt::format("node '{}': bias[{}] = {} is {:.3g} steps of s_x * s_w = {:.3g}: it "
                              "does not fit int32",
                              node, c, bias.data<float>()[c], q, s),
                  ErrorKind::kUnsupported,
                  "the input or weight scale is degenerate; check the calibration data");
    }
    bq.data<int32_t>()[c] = static_cast<int32_t>(q);
  }
  return bq;
}

Tensor integers_as(const Tensor& t, DType type) {
  Tensor out = Tensor::empty(t.shape(), type);
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double v = t.at(i);
    if (type == DType::kInt8)
      out.data<int8_t>()[i] = static_cast<int8_t>(v);
    else if (type == DType::kUInt8)
      out.data<uint8_t>()[i] = static_cast<uint8_t>(v);
    else if (type == DType::kInt32)
      out.data<int32_t>()[i] = static_cast<int32_t>(v);
    else
      throw Error(fmt::format("integers_as: unsupported type {}", dtype_name(type)),
                  ErrorKind::kInternal);
  }
  return out;
}

Tensor quantize_tensor(const Tensor& x, const Tensor& scale, const Tensor& zp, int axis, float qmin,
                       float qmax, DType type) {
  TAMP_CHECK(x.dtype() == DType::kFloat32, "quantize_tensor: x must be float32, got {}",
             describe(x));
  int64_t channels = 1, inner = 1;
  if (scale.numel() > 1) {
    const int a = axis < 0 ? axis + x.rank() : axis;
    TAMP_CHECK(a >= 0 && a < x.rank() && x.dim(a) == scale.numel(),
               "scale {} does not match axis {} of {}", describe(scale), axis, describe(x));
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

namespace tamp::compression::detail {

namespace {

std::pair<int64_t, int64_t> range_of(const nn::Graph& g, const FakeQuantSite& s) {
  const nn::Node* n = g.find_node(s.node);
  TAMP_CHECK(n, "FakeQuantize node '{}' is missing", s.node);
  return {n->attrs->i("quant_min", -128), n->attrs->i("quant_max", 127)};
}

bool exact_on(const nn::Graph& g, const std::vector<FakeQuantSite>& sites, ExportTarget t) {
  for (const auto& s : sites) {
    const auto [qmin, qmax] = range_of(g, s);
    if (s.is_weight ? !weight_range_exact_on(t, qmin, qmax)
                    : (t == ExportTarget::kPortable && qmin < 0)) {
      return false;
    }
  }
  return true;
}

}  // namespace

ExportTarget checked_export_target(const nn::Graph& g, const std::vector<FakeQuantSite>& sites) {
  auto it = g.metadata.find(std::string(kTargetMetadataKey));
  if (it == g.metadata.end()) {
    for (ExportTarget t : {ExportTarget::kPortable, ExportTarget::kArm, ExportTarget::kVnni}) {
      if (exact_on(g, sites, t)) return t;
    }
    return ExportTarget::kVnni;
  }
  ExportTarget target = ExportTarget::kPortable;
  TAMP_WITH_CONTEXT(fmt::format("graph metadata '{}'", kTargetMetadataKey),
                    target = export_target_from_name(it->second));
  for (const auto& s : sites) {
    const auto [qmin, qmax] = range_of(g, s);
    const bool exact = s.is_weight ? weight_range_exact_on(target, qmin, qmax)
                                   : !(target == ExportTarget::kPortable && qmin < 0);
    if (exact) continue;
    throw Error(
        fmt::format("FakeQuantize '{}' (of '{}') quantizes {} to [{}, {}]: ONNX Runtime does not "
                    "compute that "
                    "exactly on every CPU of export target {} (docs/quantization_targets.md)",
                    s.node, s.value, s.is_weight ? "weights" : "an activation", qmin, qmax,
                    it->second),
        ErrorKind::kUnsupported,
        "quantize with QuantizerOptions::target set to the export target (tamp's CLI and recipes "
        "do), or "
        "export for target vnni");
  }
  return target;
}

}  // namespace tamp::compression::detail
