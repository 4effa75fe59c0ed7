// How the integer ops (MatMulInteger, QLinearMatMul, QLinearConv) add up their 8-bit
// products: exactly, as ONNX defines them, or as ONNX Runtime's x86 kernels do on CPUs
// without VNNI (kX86Int16Pairs), so that tamp can say what ONNX Runtime computes there.
//
//   m.set_integer_arithmetic(IntegerArithmetic::kX86Int16Pairs);   // nn::GraphModule m
//   m.set_integer_arithmetic(host_integer_arithmetic());           // what this CPU computes
// Which products pair, on which CPUs: docs/quantization_targets.md#what-kx86int16pairs-computes
#pragma once

#include <string_view>

namespace tamp {

enum class IntegerArithmetic {
  kExact,          // ONNX's definition: int32 sums of exact products
  kX86Int16Pairs,  // ONNX Runtime on x86 with AVX2 (or AVX-512) and no VNNI
};

// "exact", "avx2".
std::string_view integer_arithmetic_name(IntegerArithmetic a);
// Inverse of integer_arithmetic_name; throws (kInvalidInput) naming the accepted names.
IntegerArithmetic integer_arithmetic_from_name(std::string_view name);

// What ONNX Runtime's CPU kernels compute on this machine (read with cpuid, as MLAS picks its
// kernels): kX86Int16Pairs on an x86 CPU with AVX2 and neither VNNI nor AMX, else kExact.
IntegerArithmetic host_integer_arithmetic();
// One line about this CPU's relevant features, e.g. "x86-64 AVX2, no AVX-VNNI/AVX512-VNNI/AMX".
std::string_view host_integer_features();

}  // namespace tamp
