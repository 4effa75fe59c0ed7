// Internal to the lowering passes (lower_qdq.cpp, lower_qoperator.cpp).
#pragma once

#include <tamp/compression/quantization/fake_quant_graph.h>
#include <tamp/nn/graph.h>

#include <string>

namespace tamp::compression::detail {

// Checks a FakeQuantize site can be written as 8-bit QuantizeLinear/DequantizeLinear and
// returns the integer storage type (kInt8 / kUInt8). Throws naming the node otherwise.
DType check_lowerable(const nn::Graph& g, const FakeQuantSite& site, const nn::Node& node);

// x quantized with a FakeQuantize's float scale, zero point and range (its numerics), as `type`.
Tensor quantize_tensor(const Tensor& x, const Tensor& scale, const Tensor& zero_point, int axis, float qmin,
                       float qmax, DType type);

// A float tensor holding integers, as `type`.
Tensor integers_as(const Tensor& t, DType type);

}  // namespace tamp::compression::detail
