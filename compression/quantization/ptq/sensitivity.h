// Per-layer quantization sensitivity (each layer quantized alone against the float model) and
// the bf16 fallback built on it.
// Details: docs/ptq_smoothquant_adaround.md#sensitivity-report-and-bf16-fallback
//
//   auto report = layer_sensitivity(float_graph, fq, batches, {.output = "logits"});
//   round_weights_bf16(float_graph, {report[0].node});  // before quantizing the rest
//   ... quantize with exclude = {report[0].node}, lower to QDQ ...
//   store_weights_bf16(qdq_graph, {report[0].node});    // bf16 initializers + Cast
#pragma once

#include <tamp/nn/graph.h>

#include <limits>
#include <map>
#include <string>
#include <vector>

namespace tamp::compression {

struct LayerSensitivity {
  std::string node;
  std::string op_type;
  double mse = 0;  // mean squared difference of the output from the float model's
  double top1 = std::numeric_limits<double>::quiet_NaN();  // with labels: top-1 accuracy
};

struct SensitivityOptions {
  std::string output;  // the value compared ("" = the graph's first output)
};

// The compute nodes of a FakeQuantize graph that read at least one fake-quantized value.
std::vector<std::string> quantized_layers(const nn::Graph& fq_graph);

// `fq_graph` with only `node`'s FakeQuantize nodes kept (the others become Identity).
// Throws (kInvalidInput) when `node` is not one of quantized_layers().
nn::Graph isolate_layer(const nn::Graph& fq_graph, const std::string& node);

// requires: batches of graph inputs; labels empty or one int64 [batch] tensor per batch.
// ensures: one entry per quantized layer, most sensitive first (largest mse).
std::vector<LayerSensitivity> layer_sensitivity(
    const nn::Graph& float_graph, const nn::Graph& fq_graph,
    const std::vector<std::map<std::string, Tensor>>& batches,
    const std::vector<Tensor>& labels = {}, const SensitivityOptions& options = {});

// The float32 weight and bias initializers of `nodes` rounded to bfloat16 (kept float32):
// what a bf16 fallback computes. Throws (kInvalidInput) for an unknown node.
void round_weights_bf16(nn::Graph& graph, const std::vector<std::string>& nodes);

// The float32 weight and bias initializers of `nodes` stored as bfloat16, each read through a
// Cast to float32. Initializers read by other nodes too are left alone.
void store_weights_bf16(nn::Graph& graph, const std::vector<std::string>& nodes);

}  // namespace tamp::compression
