// Internal to the lowering passes (lower_qdq.cpp, lower_qoperator.cpp).
#pragma once

#include <tamp/compression/quantization/export_target.h>
#include <tamp/compression/quantization/fake_quant_graph.h>
#include <tamp/nn/graph.h>

#include <string>
#include <vector>

namespace tamp::compression::detail {

// Checks a FakeQuantize site can be written as 8-bit QuantizeLinear/DequantizeLinear and
// returns the integer storage type (kInt8 / kUInt8). Throws naming the node otherwise.
// Weights may use any range int8 or uint8 holds (7-bit, narrow, 4-bit); activations the full
// one, the only one QuantizeLinear saturates to.
DType check_lowerable(const nn::Graph& g, const FakeQuantSite& site, const nn::Node& node);

// The graph's export target (metadata kTargetMetadataKey, written by the quantizer), checked
// against every weight range (weight_range_exact_on) and, for portable, uint8 activations;
// a graph without one gets the first of portable, arm, vnni its ranges are exact on.
// Throws (kUnsupported) naming the first FakeQuantize the target would not compute exactly.
ExportTarget checked_export_target(const nn::Graph& g, const std::vector<FakeQuantSite>& sites);

// x quantized with a FakeQuantize's float scale, zero point and range (its numerics), as `type`.
Tensor quantize_tensor(const Tensor& x, const Tensor& scale, const Tensor& zero_point, int axis,
                       float qmin, float qmax, DType type);

// A Conv/Gemm bias (numel channels) as int32 steps of s_x * s_w[c] (the product in float, as
// the DequantizeLinear computes it; s_w scalar or per channel). Throws naming `node` when a
// value does not fit int32.
Tensor bias_as_int32(const std::string& node, const Tensor& bias, float s_x, const Tensor& s_w);

// A float tensor holding integers, as `type`.
Tensor integers_as(const Tensor& t, DType type);

}  // namespace tamp::compression::detail
