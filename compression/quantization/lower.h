// Lowering a FakeQuantize graph (after QAT or static PTQ) to standard ONNX that ONNX Runtime
// runs with int8 kernels, and that tamp itself can run to measure the exported accuracy.
//
//   nn::Graph qdq = lower_quantized(model.export_graph(), QuantFormat::kQdq);
//   io::save_onnx_graph(qdq, "cnn_int8.onnx");
//
// QDQ (kQdq): weights become int8 initializers + DequantizeLinear (per output channel),
// biases of Conv/Gemm int32 initializers with scale s_x * s_w (zero point 0) +
// DequantizeLinear, activations QuantizeLinear -> DequantizeLinear pairs; pass-through ops
// (MaxPool, Flatten, Reshape, ...) get Q/DQ with their input's parameters after them and
// Dropout goes. ORT fuses every Conv/Gemm/MatMul into QLinearConv / QGemm / QLinearMatMul.
//
// QOperator (kQOperator): the QDQ graph with each quantized Conv turned into QLinearConv,
// MatMul into QLinearMatMul, Gemm into MatMulInteger (+ int32 bias, requantization as
// Cast/Mul/QuantizeLinear), pass-through ops run on uint8 directly; QuantizeLinear at the
// entry and DequantizeLinear at the exit; ops without an integer form (residual Add, ...)
// stay float between DequantizeLinear and QuantizeLinear.
//
// Weights keep the integer range they were quantized to, stored as int8 or uint8 (7-bit
// reduce-range, narrow range and fewer bits included). The graph's export target
// (export_target.h, metadata kTargetMetadataKey, set by the quantizer) is checked against
// every range and recorded in the result's metadata; a graph without one gets the first of
// portable, arm, vnni its ranges are exact on.
//
// Refused, with an error naming the node: weight ranges int8/uint8 cannot hold, activation
// ranges other than int8 [-128, 127] and uint8 [0, 255] (QuantizeLinear saturates to those),
// ranges the export target does not compute exactly, scales that are zero, negative or not
// finite, zero points off the integer grid, bypassed (never calibrated) FakeQuantize,
// default-domain opset below 13, and for QOperator a quantized Conv/Gemm/MatMul that has no
// integer form.
#pragma once

#include <tamp/compression/quantization/qspec.h>
#include <tamp/nn/graph.h>

#include <string>
#include <string_view>
#include <vector>

namespace tamp::compression {

enum class QuantFormat { kQdq, kQOperator };

// The one check of the integer ranges QDQ and QOperator write, which the lowering applies to
// FakeQuantize nodes and recipes to QAT / PTQ specs before training: weights of 2 to 8 bits
// inside int8 or uint8, activations of the whole int8 or uint8 range.
// "" when a tensor quantized to [quant_min, quant_max] can be written (as a weight or as an
// activation), else why not, listing what can.
std::string unwritable_reason(int64_t quant_min, int64_t quant_max, bool is_weight);

// "qdq" / "qoperator" (throws naming the accepted values).
QuantFormat quant_format_from_name(std::string_view name);

// requires: `graph` holds FakeQuantize nodes (the result of QAT or static PTQ).
// ensures: no node of the tamp domain is left; the graph passes onnx's checker.
nn::Graph lower_quantized(const nn::Graph& graph, QuantFormat format);

// The two steps of lower_quantized(kQOperator), for tests.
nn::Graph lower_to_qdq(const nn::Graph& graph);
nn::Graph qdq_to_qoperator(const nn::Graph& qdq);

// ONNX Runtime's QLinearAdd fusion, so that tamp runs what ORT runs (the export parity
// check): each Add whose two inputs come from per-tensor 8-bit DequantizeLinear and whose
// output only a per-tensor QuantizeLinear of the same type reads (through a Relu when that
// zero point is the type's minimum, which makes it redundant) becomes com.microsoft
// QLinearAdd. The export itself keeps such Adds in float. `fused` (if given) counts them.
nn::Graph fuse_qdq_adds_like_onnx_runtime(const nn::Graph& graph, int* fused = nullptr);

}  // namespace tamp::compression
