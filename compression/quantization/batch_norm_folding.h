// Folds BatchNormalization into the Conv before it with the running statistics, so the folded
// Conv computes what Conv + BN computed in eval mode; BNs that cannot be folded stay.
// Formulas, names kept and what folds: docs/quantization.md#batchnorm-folding-and-freeze-bn
//
//   int folded = fold_batch_norms(graph);       // graph: nn::Graph, changed in place
#pragma once

#include <tamp/nn/graph.h>

#include <string>
#include <vector>

namespace tamp::compression {

// What one fold changed, so QAT can undo it while BatchNorm still trains (batch_norm_qat.h).
struct FoldedBatchNorm {
  std::string conv;         // the Conv node (keeps its name)
  std::string weight;       // its weight initializer (now holding the folded values)
  std::string bias;         // its bias initializer after folding (the Conv's own or the BN's B)
  Tensor weight_before;     // the weight as it was
  Tensor conv_bias_before;  // the Conv's own bias (undefined when it had none)
  nn::Node bn;              // the BatchNormalization node as it was
  Tensor gamma, beta, mean, var;  // its initializers as they were
};

// Returns how many BatchNormalization nodes were folded. Nodes named in `exclude` (either
// the BN or its Conv) are left alone. With `record`, one entry per fold is appended.
int fold_batch_norms(nn::Graph& graph, const std::vector<std::string>& exclude = {},
                     std::vector<FoldedBatchNorm>* record = nullptr);

}  // namespace tamp::compression
