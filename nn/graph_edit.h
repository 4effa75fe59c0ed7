// Graph-editing helpers for passes that rewrite a graph (quantization, export, tuning).
//
//   NameScope names(graph);
//   std::string s = names.fresh("conv1.weight_scale");   // unused as value and node name
//   remove_unused(graph);                                 // dead nodes, initializers, value_info
#pragma once

#include <tamp/nn/graph.h>

#include <set>
#include <string>

namespace tamp::nn {

// Hands out names not yet used by any value or node of a graph.
class NameScope {
 public:
  explicit NameScope(const nn::Graph& graph);
  // `base` itself when free, else base_1, base_2, ...; the result is reserved.
  std::string fresh(const std::string& base);

 private:
  std::set<std::string> used_;
};

// Removes nodes whose outputs nothing reads (repeatedly), initializers nothing reads and
// value_info entries for values that no longer exist. Graph inputs and outputs stay.
void remove_unused(nn::Graph& graph);

// Points every node reading value `from` at `to`, except node `skip` (graph outputs keep
// their names).
void replace_uses(nn::Graph& graph, const std::string& from, const std::string& to,
                  const std::string& skip = {});

bool is_graph_output(const nn::Graph& graph, const std::string& value);

// For an inference export of a graph a framework exported in training mode (torch's
// `training=TrainingMode.TRAINING`): a Dropout whose training_mode input is a constant stops
// reading it, and a BatchNormalization loses its training_mode attribute and the running-
// statistics outputs nothing reads (opsets < 14 train when they have them). Both then follow
// the module's train()/eval() in tamp, and ONNX Runtime runs them as inference nodes, instead
// of dropping at random and normalising with batch statistics.
void release_training_modes(nn::Graph& graph);

}  // namespace tamp::nn
