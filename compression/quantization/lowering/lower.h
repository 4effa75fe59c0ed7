// Lowering a FakeQuantize graph (after QAT or static PTQ) to standard ONNX that ONNX Runtime
// runs with integer kernels, as QDQ or QOperator, and that tamp itself can run. Throws, naming
// the node, on ranges, scales or ops the export cannot write exactly for the graph's target.
// What each format writes and what is refused: docs/quantization.md#lowering-to-qdq-and-qoperator
//
//   nn::Graph qdq = lower_quantized(model.export_graph(), QuantFormat::kQdq);
//   io::save_onnx_graph(qdq, "cnn_int8.onnx");
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
