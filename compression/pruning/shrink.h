// Physically removes pruned output channels and attention heads from a graph, so the exported
// model is smaller and faster, not just sparse.
//
//   nn::Graph g = model.export_graph();              // after channel pruning
//   ShrinkReport r;
//   nn::Graph small = shrink_pruned(g, &r);          // same outputs, fewer channels
//   io::save_onnx_graph(small, "small.onnx");
//   fmt::print("{} -> {} parameters\n", r.parameters_before, r.parameters_after);
//
// An output channel of a Conv / Gemm / MatMul is removed when its weight row is exactly zero,
// its bias entry is zero and every BatchNormalization on its way maps zero to zero (shift 0,
// and scale 0 or running mean 0); the channel is then zero wherever it goes, so removing it with
// the matching input channels of the consumers (targets.h lists the ops followed; after a
// Flatten one channel is H*W consecutive Gemm inputs) and its BatchNormalization entries
// changes nothing but the cost. An attention head (heads.h) is removed when its V columns and
// V bias entries are zero; its Q/K/V columns and biases, its Wo rows and the head count in the
// Reshape targets go with it. A layer keeps at least one channel and a block one head.
// Work on float graphs: quantize after shrinking (weights read through FakeQuantize or
// DequantizeLinear are left alone, with a note).
#pragma once

#include <tamp/nn/graph.h>

#include <string>
#include <vector>

namespace tamp::compression::pruning {

struct ShrinkReport {
  struct Layer {
    std::string node, weight;
    int64_t before = 0, after = 0;   // output channels or heads
  };
  std::vector<Layer> layers;         // layers and attention blocks that lost channels / heads
  int64_t parameters_before = 0;     // elements of float initializers
  int64_t parameters_after = 0;
  std::vector<std::string> notes;    // zero channels that stayed, and why
};

nn::Graph shrink_pruned(const nn::Graph& graph, ShrinkReport* report = nullptr);

}  // namespace tamp::compression::pruning
