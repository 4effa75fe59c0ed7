// What a FakeQuantize graph (QAT, static PTQ) computes once exported and run by ONNX Runtime.
// ORT fuses DequantizeLinear -> op -> QuantizeLinear groups into integer kernels whose float
// requantization is not the QDQ graph's arithmetic: QLinearMatMul / QLinearConv round
// float(int32 sum) * float(s_a * s_w / s_y), the graph (s_a a)(s_w w) / s_y; QLinearAdd runs
// MLAS's own float expression (autograd/ops/qlinear_add.cpp). The two round a value near a
// .5 boundary apart, and the step spreads through a deep model.
//
// This rewrite replaces each such group of the FakeQuantize graph by that integer kernel,
// between QuantizeLinear and DequantizeLinear with the FakeQuantize nodes' own scales and
// zero points: a MatMul or Conv whose inputs are fake-quantized (directly or through
// pass-through ops) and whose output is (after a Relu ORT drops into the quantization when
// the zero point is the range's minimum), and an Add of two fake-quantized activations with
// a fake-quantized output. Conv biases become int32 as the export writes them. Everything
// else, the FakeQuantize nodes feeding the groups included, stays as it is. Gemm groups stay
// float (ORT's QGemm is not modelled).
//
// Evaluation runs the rewritten graph (scheduler/evaluate.h: simulated accuracy, the export
// parity check, `tamp eval`); training keeps the float graph and its straight-through
// gradients.
//
//   nn::GraphModule m(simulate_fused_like_onnx_runtime(model.export_graph()));
#pragma once

#include <tamp/nn/graph.h>

namespace tamp::compression {

// requires: nothing (a graph without active FakeQuantize nodes comes back as it is).
// ensures: same inputs and outputs; `fused` (if given) the number of groups rewritten.
nn::Graph simulate_fused_like_onnx_runtime(const nn::Graph& graph, int* fused = nullptr);

}  // namespace tamp::compression
