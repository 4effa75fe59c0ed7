// What a FakeQuantize graph (QAT, static PTQ) computes once exported and run by ONNX Runtime:
// each group ORT fuses (MatMul / Conv between fake-quantized values, a residual Add of two)
// replaced by tamp's integer op with the FakeQuantize nodes' scales and zero points, Softmax by
// MLAS's (OrtSoftmax). Evaluation runs it (scheduler/evaluate.h); training keeps the float
// graph. Which groups and why:
// docs/quantization_targets.md#evaluation-computes-what-onnx-runtimes-fused-kernels-compute
//
//   nn::GraphModule m(simulate_fused_like_onnx_runtime(model.export_graph()));
#pragma once

#include <tamp/nn/graph.h>

#include <set>
#include <string>

namespace tamp::compression {

// requires: nothing (a graph without active FakeQuantize nodes comes back as it is).
// ensures: same inputs and outputs; `fused` (if given) the number of groups rewritten.
nn::Graph simulate_fused_like_onnx_runtime(const nn::Graph& graph, int* fused = nullptr);

// Every Softmax ORT runs in float with MLAS's kernel, i.e. whose input is not one of
// `quantized` (DequantizeLinear -> Softmax -> QuantizeLinear becomes QLinearSoftmax, not
// modelled), becomes tamp's OrtSoftmax. Shared by the simulation above and by the integer run
// of an exported file (scheduler/export_parity.h). Returns how many.
int softmax_like_onnx_runtime(nn::Graph& graph, const std::set<std::string>& quantized);

}  // namespace tamp::compression
