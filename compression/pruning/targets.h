// What can be pruned in a graph: the weights of Conv, Gemm and MatMul nodes, their biases, and
// for channel pruning where each output channel goes, so a pruned channel can be removed.
// When channels are removable: docs/pruning.md#which-channels-can-be-removed
//
//   for (const PrunableWeight& w : find_prunable_weights(graph))
//     if (w.channel_problem.empty()) { /* its output channels can be removed */ }
#pragma once

#include <tamp/compression/pruning/pattern.h>
#include <tamp/nn/graph.h>

#include <string>
#include <vector>

namespace tamp::compression::pruning {

struct ChannelConsumer {
  int node = -1;            // Conv / Gemm / MatMul reading the channels
  std::string weight;       // its weight initializer
  WeightLayout layout;      // the consumer weight's layout
  int64_t per_channel = 1;  // reduction elements per channel (H*W after a Flatten)
  bool flattened = false;   // reached through Flatten / Reshape
};

struct PrunableWeight {
  std::string weight;  // initializer name (also the parameter name)
  std::string node;    // the Conv / Gemm / MatMul using it
  int node_index = -1;
  std::string op_type;
  WeightLayout layout;
  bool weight_is_initializer = true;  // false when read through FakeQuantize
  std::string bias;   // initializer indexed by output channel ("" when none): Conv/Gemm
                      // input 2, or the initializer of an Add right after a MatMul
  int bias_add = -1;  // that Add node (MatMul), else -1
  // Channel flow (filled for every weight; channel pruning uses it).
  std::string channel_problem;   // why the channels cannot be removed ("" if they can)
  std::vector<int> batch_norms;  // BatchNormalization nodes on the way to the consumers
  std::vector<int> reshapes;     // Reshape nodes with a (d0, -1) target on the way
  std::vector<int> depthwise;    // depthwise Conv nodes on the way (their filters and
                                 // biases are indexed by the channel)
  std::vector<ChannelConsumer> consumers;
};

// Every Conv / Gemm / MatMul whose weight (input 1) is a float initializer of a layout
// pattern.h supports, in node order. One entry per (node, weight). A MatMul reading
// Transpose(W) (perm [1, 0]) has W as its weight, laid out [out, reduction]; its channels stay.
std::vector<PrunableWeight> find_prunable_weights(const nn::Graph& graph);

// The initializer a node input reads, looking through tamp FakeQuantize nodes; "" if none.
std::string resolve_initializer(const nn::Graph& graph, const std::string& value);
// The value of an initializer or of a Constant node's output; undefined Tensor if neither.
Tensor constant_value(const nn::Graph& graph, const std::string& value);

}  // namespace tamp::compression::pruning
