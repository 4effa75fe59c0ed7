// Physically removes pruned output channels and attention heads from a float graph, so the
// exported model is smaller and faster, not just sparse; the outputs stay the same.
// What is removed and when: docs/pruning.md#which-channels-can-be-removed
//
//   ShrinkReport r;
//   nn::Graph small = shrink_pruned(model.export_graph(), &r);   // after channel pruning
//   fmt::print("{} -> {} parameters\n", r.parameters_before, r.parameters_after);
#pragma once

#include <tamp/nn/graph.h>

#include <string>
#include <vector>

namespace tamp::compression::pruning {

struct ShrinkReport {
  struct Layer {
    std::string node, weight;
    int64_t before = 0, after = 0;  // output channels or heads
  };
  std::vector<Layer> layers;      // layers and attention blocks that lost channels / heads
  int64_t parameters_before = 0;  // elements of float initializers
  int64_t parameters_after = 0;
  std::vector<std::string> notes;  // zero channels that stayed, and why
};

nn::Graph shrink_pruned(const nn::Graph& graph, ShrinkReport* report = nullptr);

}  // namespace tamp::compression::pruning
