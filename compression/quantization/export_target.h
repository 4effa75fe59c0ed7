// Export targets (portable, vnni, arm): which CPUs the exported int8 model computes exactly on
// in ONNX Runtime, and so which integer range the weights take; QAT and PTQ simulate that range
// and the export records it (kTargetMetadataKey). Table and reasoning: docs/quantization_targets.md
//
//   QuantizerOptions o{.target = ExportTarget::kPortable};   // the default
//   QuantSpec w = weights_for_target(qint8_per_channel, quint8, ExportTarget::kPortable);
//   // w: uint8 symmetric, zero point 128 — the same grid as int8, exact on every x86 kernel
#pragma once

#include <tamp/autograd/integer_arithmetic.h>
#include <tamp/compression/quantization/qspec.h>

#include <cstdint>
#include <string_view>

namespace tamp::compression {

enum class ExportTarget { kPortable, kVnni, kArm };

// The metadata_props key of an exported model whose value is the target's name.
inline constexpr std::string_view kTargetMetadataKey = "tamp.quantization_target";

// "portable", "vnni", "arm".
std::string_view export_target_name(ExportTarget t);
// Inverse of export_target_name; throws (kInvalidInput) naming the accepted names.
ExportTarget export_target_from_name(std::string_view name);

// The weight spec that computes exactly on the target's kernels, given the user's weight spec
// and the activations it multiplies. Throws (kInvalidInput) for int8 activations with the
// portable target (ONNX Runtime has no int8 x uint8 kernel).
QuantSpec weights_for_target(const QuantSpec& weights, const QuantSpec& activations,
                             ExportTarget target);

// Whether weights stored in [qmin, qmax] (int8 when qmin < 0, else uint8) multiplied by uint8
// activations compute exactly on every kernel the target covers.
bool weight_range_exact_on(ExportTarget target, int64_t qmin, int64_t qmax);

// The integer arithmetic the export-parity check evaluates a target's model with: the
// strictest kernels the target promises to be exact on (portable: x86 without VNNI).
IntegerArithmetic parity_arithmetic(ExportTarget target);

}  // namespace tamp::compression
