// Folds BatchNormalization into the Conv before it, with the running statistics:
//   W' = W * gamma / sqrt(var + eps)   (per output channel)
//   b' = (b - mean) * gamma / sqrt(var + eps) + beta
// so the folded Conv computes what Conv + BN computed in eval mode, and quantization sees
// the weights ONNX Runtime will run. The Conv keeps its weight's initializer name (new
// values); its bias keeps its name, or takes the BN bias's name when the Conv had none. The
// BN node and its other initializers go; the Conv writes the BN's output value.
//
//   int folded = fold_batch_norms(graph);       // graph: nn::Graph, changed in place
//
// Folded: a BN whose input comes from a Conv read by nothing else, whose statistics and
// affine parameters are float initializers, and whose extra (training-form) outputs are
// unused. Other BNs stay as they are.
#pragma once

#include <tamp/nn/graph.h>

#include <string>
#include <vector>

namespace tamp::compression {

// What one fold changed, so QAT can undo it while BatchNorm still trains (batch_norm_qat.h).
struct FoldedBatchNorm {
  std::string conv;            // the Conv node (keeps its name)
  std::string weight;          // its weight initializer (now holding the folded values)
  std::string bias;            // its bias initializer after folding (the Conv's own or the BN's B)
  Tensor weight_before;        // the weight as it was
  Tensor conv_bias_before;     // the Conv's own bias (undefined when it had none)
  nn::Node bn;                 // the BatchNormalization node as it was
  Tensor gamma, beta, mean, var;  // its initializers as they were
};

// Returns how many BatchNormalization nodes were folded. Nodes named in `exclude` (either
// the BN or its Conv) are left alone. With `record`, one entry per fold is appended.
int fold_batch_norms(nn::Graph& graph, const std::vector<std::string>& exclude = {},
                     std::vector<FoldedBatchNorm>* record = nullptr);

}  // namespace tamp::compression
