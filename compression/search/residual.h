// Residual blocks an architecture search may drop: y = Add(x, F(x)) where the branch F reads
// only x (and constants) and nothing outside the block reads F's values. Dropping the block
// leaves y = x: the branch's nodes and the Add go, and every reader of y reads x.
//
//   for (const ResidualBlock& b : find_residual_blocks(graph)) ... b.add, b.branch_nodes
//   nn::Graph shallower = drop_residual_blocks(graph, {"/layer1/layer1.1/Add"});
//
// A block whose shortcut is computed (a projection, a strided 1x1 convolution) is not
// droppable: its output is not x. The same block in a trained model is switched off exactly by
// zeroing `zero_params` (the scale and shift of the BatchNormalization that ends F, or the
// weight and bias of its last Conv / Gemm / MatMul): F then outputs exact zeros, and
// Add(x, 0) = x. Blocks whose branch ends otherwise are listed with zero_params empty.
#pragma once

#include <tamp/nn/graph.h>

#include <string>
#include <vector>

namespace tamp::compression::search {

struct ResidualBlock {
  std::string add;                         // the Add node's name
  std::string skip;                        // x
  std::string branch;                      // F(x), the Add's other input
  std::vector<std::string> branch_nodes;   // names of F's nodes
  std::vector<std::string> zero_params;    // initializers whose zeros make F(x) = 0
};

// In node order of the Adds.
std::vector<ResidualBlock> find_residual_blocks(const nn::Graph& graph);

// Removes the named blocks (Add node names). requires: each names a block of
// find_residual_blocks(graph). Initializers nobody reads any more are removed; a dropped
// block whose output is a graph output leaves an Identity node in its place.
nn::Graph drop_residual_blocks(const nn::Graph& graph, const std::vector<std::string>& adds);

}  // namespace tamp::compression::search
