// Constant folding: evaluates, once, the parts of a graph that do not depend on runtime
// inputs or trainable parameters — PyTorch's shape arithmetic (Shape -> Gather -> Unsqueeze
// -> Concat -> Reshape), Constant and ConstantOfShape nodes — and stores their results as
// initializers. io::load_onnx_graph applies it by default.
//
//   nn::Graph g = ...;
//   nn::FoldStats s = nn::fold_constants(g);   // s.folded_nodes nodes became initializers
//
// What counts as constant: initializers that a GraphModule would not train (not floating, or
// floating and read only by inputs no op differentiates, and not a running statistic),
// Constant outputs, and Shape/Size of a graph input whose dims are all declared (the
// executor enforces declared dims). Only deterministic, mode-independent ops of a fixed list
// fold, and only when their output stays small (kMaxFoldElements), so a hostile graph cannot
// make loading allocate much. A floating value read by a differentiable input is never turned
// into an initializer (it would become a trainable parameter): its producer stays a node.
#pragma once

#include <tamp/autograd/op.h>
#include <tamp/nn/graph.h>

namespace tamp::nn {

// Results larger than this many elements stay computed at run time.
constexpr int64_t kMaxFoldElements = int64_t{1} << 16;

struct FoldStats {
  int folded_nodes = 0;          // nodes removed from the graph
  int added_initializers = 0;    // folded values still read by the remaining graph
  int removed_initializers = 0;  // initializers only the folded nodes read
};

// Expects a validated graph (topological order); keeps it valid.
FoldStats fold_constants(Graph& graph, const OpRegistry& registry = OpRegistry::builtin());

}  // namespace tamp::nn
