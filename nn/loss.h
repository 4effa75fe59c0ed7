// Loss functions on Variables, each one fused op of the op table (one forward, one backward
// node), with PyTorch's semantics (F.cross_entropy, F.nll_loss, F.kl_div, F.mse_loss).
//
//   Variable loss = nn::cross_entropy(logits, labels, {.label_smoothing = 0.1});
//   Variable kd = nn::kl_div_distill(student_logits, teacher_logits.detach(), /*T=*/4);
// The op behind each: docs/nn.md#losses
#pragma once

#include <tamp/autograd/variable.h>

#include <optional>
#include <string>

namespace tamp::nn {

enum class Reduction { kMean, kSum, kNone };

struct CrossEntropyOptions {
  // Per-class weights (C), same dtype as the logits; undefined: all 1.
  Tensor weight = {};
  // Targets equal to this contribute nothing, to the loss or to the mean's denominator.
  std::optional<int64_t> ignore_index = std::nullopt;
  Reduction reduction = Reduction::kMean;
  // In [0, 1]. The "mean" denominator is the summed weight of the targets kept, for the
  // smoothing term too. PyTorch 1.13 divides that term by all positions instead when
  // ignore_index is set and no weight is given; the two agree when nothing is ignored.
  double label_smoothing = 0;
};

// logits (N, C) or (N, C, d1..dk); targets int64/int32 class indices (N) or (N, d1..dk).
Variable cross_entropy(const Variable& logits, const Variable& targets,
                       const CrossEntropyOptions& options = {});
// log_probs as logits above (e.g. from LogSoftmax over axis 1); label_smoothing must be 0.
Variable nll_loss(const Variable& log_probs, const Variable& targets,
                  const CrossEntropyOptions& options = {});

// temperature^2 * KL(softmax(teacher / T) || softmax(student / T)) along `axis`, summed and
// divided by dim 0 (PyTorch's "batchmean"). Pass the teacher detached unless it trains too.
Variable kl_div_distill(const Variable& student_logits, const Variable& teacher_logits,
                        double temperature = 1, int64_t axis = -1);

// (input - target)^2, averaged (kMean), summed or elementwise; the shapes must match.
Variable mse_loss(const Variable& input, const Variable& target,
                  Reduction reduction = Reduction::kMean);

}  // namespace tamp::nn
