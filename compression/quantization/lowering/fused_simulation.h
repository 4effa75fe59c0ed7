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

namespace tamp::compression {

// requires: nothing (a graph without active FakeQuantize nodes comes back as it is).
// ensures: same inputs and outputs; `fused` (if given) the number of groups rewritten.
nn::Graph simulate_fused_like_onnx_runtime(const nn::Graph& graph, int* fused = nullptr);

}  // namespace tamp::compression
