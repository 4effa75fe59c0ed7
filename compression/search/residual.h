// Residual blocks an architecture search may drop: y = Add(x, F(x)) with an identity shortcut;
// dropping one leaves y = x. Which blocks, and zero_params:
// docs/search.md#search-space-compressionsearchspaceh
//
//   for (const ResidualBlock& b : find_residual_blocks(graph)) ... b.add, b.branch_nodes
//   nn::Graph shallower = drop_residual_blocks(graph, {"/layer1/layer1.1/Add"});
#pragma once

#include <tamp/nn/graph.h>

#include <string>
#include <vector>

namespace tamp::compression::search {

struct ResidualBlock {
  std::string add;                        // the Add node's name
  std::string skip;                       // x
  std::string branch;                     // F(x), the Add's other input
  std::vector<std::string> branch_nodes;  // names of F's nodes
  std::vector<std::string> zero_params;   // initializers whose zeros make F(x) = 0
};

// In node order of the Adds.
std::vector<ResidualBlock> find_residual_blocks(const nn::Graph& graph);

// Removes the named blocks (Add node names). requires: each names a block of
// find_residual_blocks(graph). Initializers nobody reads any more are removed; a dropped
// block whose output is a graph output leaves an Identity node in its place.
nn::Graph drop_residual_blocks(const nn::Graph& graph, const std::vector<std::string>& adds);

}  // namespace tamp::compression::search
