// Constant folding: evaluates, once, the parts of a graph that depend on neither runtime
// inputs nor trainable parameters (PyTorch's shape arithmetic, Constant, ConstantOfShape) and
// stores their results as initializers. io::load_onnx_graph applies it by default.
//
//   nn::FoldStats s = nn::fold_constants(g);   // s.folded_nodes nodes became initializers
// What counts as constant and what folds: docs/onnx.md (Importer, constant folding)
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
