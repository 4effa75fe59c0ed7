// How the integer ops (MatMulInteger, QLinearMatMul, QLinearConv) add up their 8-bit
// products: exactly, as ONNX defines them, or as ONNX Runtime's x86 kernels do on CPUs
// without VNNI — so that tamp can say what ONNX Runtime computes on such a CPU.
//
//   nn::GraphModule m(io::load_onnx_graph("cnn_int8_vnni.onnx"));
//   m.set_integer_arithmetic(IntegerArithmetic::kX86Int16Pairs);   // what an AVX2 CPU computes
//   m.set_integer_arithmetic(host_integer_arithmetic());           // what this CPU computes
//
// kX86Int16Pairs: uint8 x int8 products (activations x weights) are summed in pairs of
// neighbouring reduction indices (k = 2j, 2j + 1; for QLinearConv in the (kernel position,
// input channel) order ONNX Runtime packs the filter in) of the raw stored values, and each
// pair sum saturates to int16 before the int32 accumulation: MLAS's vpmaddubsw + vpmaddwd
// kernels (QgemmU8S8KernelAvx2.S, ConvSymKernelAvx2.S; the AVX-512 kernels without VNNI do
// the same). uint8 x uint8, int8 x int8 and depthwise convolutions stay exact there, and so do
// CPUs with AVX-VNNI, AVX512-VNNI or AMX, SSE-only CPUs and ARM (docs/quantization_targets.md).
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
