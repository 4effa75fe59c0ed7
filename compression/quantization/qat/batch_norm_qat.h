// BatchNormalization during QAT, before and after its statistics freeze: a folded Conv + BN
// rewritten back to a live BN that trains on the fake-quantized folded weight, frozen, then
// refolded. Scheme and formulas: docs/quantization.md#batchnorm-folding-and-freeze-bn
//
//   for (auto& f : folds) live.push_back(unfold_for_training(g, f));  // folds: fold_batch_norms
//   set_batch_norm_frozen(g, live[0], true);        // from the freeze step on
//   refold(g, live[0]);                             // g holds the current values
#pragma once

#include <tamp/compression/quantization/batch_norm_folding.h>

#include <string>
#include <vector>

namespace tamp::compression {

struct LiveBatchNorm {
  FoldedBatchNorm fold;            // names; its tensors are the values at attach
  std::string fake_quantize;       // the weight's FakeQuantize node
  std::string folded_weight;       // the value W * s it reads while live
  std::string conv_output;         // the Conv's output while live
  std::vector<std::string> nodes;  // every node the rewrite added, the BN included
};

// requires: `graph` holds the fold `f` with a FakeQuantize reading its weight initializer.
// ensures: the live form (docs/quantization.md); W, b, gamma, beta, mean, var restored from `f`.
LiveBatchNorm unfold_for_training(nn::Graph& graph, const FoldedBatchNorm& f);

// Whether the BN of `live` normalises with its running statistics even in train() mode.
void set_batch_norm_frozen(nn::Graph& graph, const LiveBatchNorm& live, bool frozen);

// W * gamma / sqrt(var + eps) computed as the live graph computes it (float32, same order),
// so a weight scale chosen from it fits the value FakeQuantize sees bit for bit.
Tensor live_folded_weight(const Tensor& weight, const Tensor& gamma, const Tensor& var,
                          float epsilon);

// ensures: the folded form of fold_batch_norms from the graph's current initializers; the
//          FakeQuantize reads the weight initializer again.
void refold(nn::Graph& graph, const LiveBatchNorm& live);

}  // namespace tamp::compression
