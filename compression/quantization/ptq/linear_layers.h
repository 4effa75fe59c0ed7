// The linear layers of a float graph that weight quantization rewrites (MatMul / Gemm with a
// constant 2-D float weight), in one form whatever the op: y = x * W + bias, W stored [K, N];
// `output` is the value the rewrite must produce (docs/quantization.md#dynamic-ptq).
//
//   for (const LinearLayer& l : find_linear_layers(graph, {.exclude = {"/head/MatMul"}}))
//     fmt::print("{}: {} x {} -> {}\n", l.node, l.k(), l.n(), l.output);
#pragma once

#include <tamp/nn/graph.h>

#include <string>
#include <vector>

namespace tamp::compression {

struct LinearLayer {
  std::string node;         // the MatMul / Gemm node's name
  std::string node_output;  // its output value (identifies the node: names may be empty)
  std::string op_type;      // "MatMul" or "Gemm"
  std::string input;        // x: [..., K] for MatMul, [M, K] for Gemm
  std::string weight_name;  // the initializer holding the weight (names the quantized copies)
  Tensor weight;            // float32 [K, N]: alpha and transB already applied
  Tensor bias;              // float32 [N] (beta applied), or undefined
  std::string bias_add;     // name of the MatMul's bias Add node taken into the layer, or ""
  std::string output;       // the value the layer produces (after the bias)
  int64_t k() const { return weight.dim(0); }
  int64_t n() const { return weight.dim(1); }
};

struct LinearLayerOptions {
  // Node names, op types ("MatMul", "Gemm") or weight initializer names to leave in float.
  std::vector<std::string> exclude;
};

// The MatMul / Gemm nodes of `graph` with a constant weight, in graph order. Skipped silently:
// a MatMul whose second input is not a 2-D float32 initializer (attention's activation x
// activation products) or whose first input is 1-D; a Gemm with transA = 1 or a C that is not
// a constant broadcastable to [N].
// Throws (kInvalidInput) when an exclusion matches no node name, op type or initializer of the
// graph (a typo would silently quantize everything).
std::vector<LinearLayer> find_linear_layers(const nn::Graph& graph,
                                            const LinearLayerOptions& options = {});

// Throws (kInvalidInput) naming the graph's ops when `layers` is empty: nothing to quantize.
void require_linear_layers(const nn::Graph& graph, const std::vector<LinearLayer>& layers,
                           const LinearLayerOptions& options);

// Removes the layer's node (and its bias Add) from `graph` and returns the index where the
// replacement nodes go; the caller inserts nodes there that read layer.input and write
// layer.output.
size_t remove_linear_layer(nn::Graph& graph, const LinearLayer& layer);

}  // namespace tamp::compression
