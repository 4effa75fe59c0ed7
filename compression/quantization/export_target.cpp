#include <tamp/compression/quantization/export_target.h>

#include <tamp/autograd/enum_names.h>

namespace tamp::compression {

namespace {

constexpr EnumName<ExportTarget> kTargetNames[] = {
    {ExportTarget::kPortable, "portable"},
    {ExportTarget::kVnni, "vnni"},
    {ExportTarget::kArm, "arm"},
};

}  // namespace

std::string_view export_target_name(ExportTarget t) { return name_of(kTargetNames, t); }

ExportTarget export_target_from_name(std::string_view name) {
  return value_named(kTargetNames, name, "export target");
}

bool weight_range_exact_on(ExportTarget target, int64_t qmin, int64_t qmax) {
  // uint8 x uint8 is exact on every kernel: MLAS widens both to 16 bits (x86 vpmaddwd, ARM
  // umlal) or uses udot / VNNI / AMX, none of which saturates below 32 bits.
  if (qmin >= 0) return true;
  switch (target) {
    case ExportTarget::kVnni:
      return true;
    // x86 without VNNI: vpmaddubsw adds two uint8 x int8 products in int16; 2 * 255 * 64 =
    // 32640 fits, 2 * 255 * 65 does not.
    case ExportTarget::kPortable:
      return qmin >= -64 && qmax <= 64;
    // ARM NEON without dot products: activations become int8 (x - 128) and smull + smlal add
    // two int8 x int8 products in int16; only (-128)(-128) + (-128)(-128) = 32768 overflows.
    case ExportTarget::kArm:
      return qmin >= -127;
  }
  return false;
}

QuantSpec weights_for_target(const QuantSpec& weights, const QuantSpec& activations,
                             ExportTarget target) {
  QuantSpec w = weights;
  if (target == ExportTarget::kPortable && activations.is_signed) {
    throw Error(
        "export target portable needs uint8 activations: ONNX Runtime has no int8 x uint8 kernel "
        "for the "
        "uint8 weights it exports",
        ErrorKind::kInvalidInput,
        "use uint8 activations, or export target vnni / arm for int8 activations");
  }
  if (weight_range_exact_on(target, w.quant_min(), w.quant_max())) return w;
  if (target == ExportTarget::kArm) {
    w.narrow_range = true;  // [-127, 127]
  } else {
    // uint8 with the zero point moved by 128: the same integer grid (a symmetric spec keeps
    // [-128, 127] around zero point 128), run by the exact uint8 x uint8 kernels.
    w.is_signed = false;
    w.narrow_range = false;
  }
  return w;
}

IntegerArithmetic parity_arithmetic(ExportTarget target) {
  return target == ExportTarget::kPortable ? IntegerArithmetic::kX86Int16Pairs
                                           : IntegerArithmetic::kExact;
}

}  // namespace tamp::compression
