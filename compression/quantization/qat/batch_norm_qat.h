// BatchNormalization during quantization-aware training, before and after its statistics
// freeze (the scheme of Krishnamoorthi 2018, "Quantizing deep convolutional networks for
// efficient inference", section 3.2, and of PyTorch's ConvBn QAT modules).
//
// QAT first folds every Conv + BN (batch_norm_folding.h) and plans the FakeQuantize points on
// the folded graph. While BN is live, unfold_for_training() rewrites each fold so that
//   s       = gamma / sqrt(running_var + eps)                (per output channel)
//   y_conv  = Conv(x, FakeQuantize(W * s), b * s)            (the weight ORT will run)
//   y       = y_conv * (1 / s)                               (= Conv(x, W s) / s + b, the
//                                                             unfolded scale)
//   out     = BatchNormalization(y, gamma, beta, running_mean, running_var)
// In train() mode BN normalises with the batch statistics and updates the running ones; W,
// b, gamma and beta all train (gamma through s as well). In eval() mode BN uses the running
// statistics, so the graph computes the folded Conv the export writes. freeze() switches BN
// to the running statistics for training too (no more updates). refold() bakes the current
// values into the plain folded Conv: W' = W * s, b' = (b - mean) * s + beta.
//
//   std::vector<FoldedBatchNorm> folds;
//   fold_batch_norms(g, {}, &folds);  ... insert_fake_quantize(g, ...);
//   for (auto& f : folds) live.push_back(unfold_for_training(g, f));
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
// ensures: the live form above; W, b, gamma, beta, mean, var restored from `f`.
LiveBatchNorm unfold_for_training(nn::Graph& graph, const FoldedBatchNorm& f);

// Whether the BN of `live` normalises with its running statistics even in train() mode.
void set_batch_norm_frozen(nn::Graph& graph, const LiveBatchNorm& live, bool frozen);

// W * gamma / sqrt(var + eps) computed as the live graph computes it (float32, same order),
// so a weight scale chosen from it fits the value FakeQuantize sees bit for bit.
Tensor live_folded_weight(const Tensor& weight, const Tensor& gamma, const Tensor& var, float epsilon);

// ensures: the folded form of fold_batch_norms from the graph's current initializers; the
//          FakeQuantize reads the weight initializer again.
void refold(nn::Graph& graph, const LiveBatchNorm& live);

}  // namespace tamp::compression
