// What a graph costs to run and to store: multiply-accumulates (MACs) per example of its
// linear ops and the parameter count, computed from the graph and the shapes of its values.
//
//   auto shapes = value_shapes(graph, example_inputs(graph));   // runs one example in tamp
//   GraphCost c = graph_cost(graph, shapes);                    // c.macs, c.parameters
// What counts as a MAC, per op: docs/nn.md#graph-cost
#pragma once

#include <tamp/nn/graph.h>

#include <map>
#include <string>

namespace tamp::nn {

// One example (batch 1) of zeros for every graph input, from the declared shapes. Throws
// (kInvalidInput) naming the input when a dimension other than the first is not known.
std::map<std::string, Tensor> example_inputs(const Graph& graph);

// The shape of every value (inputs, initializers, node outputs) when the graph runs on
// `inputs` in tamp (eval mode, no tape).
std::map<std::string, Shape> value_shapes(const Graph& graph,
                                          const std::map<std::string, Tensor>& inputs);

// MACs of one node for the shapes given (the whole batch); 0 for ops outside the families above.
int64_t node_macs(const Node& node, const std::map<std::string, Shape>& shapes);

// Elements of the floating-point initializers (weights, biases, normalisation statistics):
// what tamp reports as a model's parameters.
int64_t float_parameter_count(const Graph& graph);

struct GraphCost {
  int64_t macs = 0;                          // per example
  int64_t parameters = 0;                    // float_parameter_count
  std::map<std::string, int64_t> node_macs;  // per example, by node name (nodes with MACs only)
};

GraphCost graph_cost(const Graph& graph, const std::map<std::string, Shape>& shapes);
// graph_cost on the shapes of example_inputs.
GraphCost graph_cost(const Graph& graph);

}  // namespace tamp::nn
