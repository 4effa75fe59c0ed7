// Importance scores for pruning (higher means keep): one ScoreTracker per weight, fed (weight,
// gradient) after each backward pass and asked for scores at each mask update.
// The criteria and their state: docs/pruning.md#criteria---criterion
//
//   ScoreTracker t(Criterion::kSnipMomentum);
//   t.observe(w, g);                   // every step
//   Tensor s = t.scores(w);            // at a mask update
//   t.after_update();
#pragma once

#include <tamp/autograd/tensor.h>

#include <string>

namespace tamp::compression::pruning {

enum class Criterion { kMagnitude, kGradient, kSnip, kSnipMomentum, kMovement };

// "magnitude", "gradient", "snip", "snip_momentum" (or "snip-momentum"), "movement".
Criterion parse_criterion(const std::string& text);
std::string criterion_name(Criterion c);
bool needs_gradients(Criterion c);

class ScoreTracker {
 public:
  static constexpr double kMomentum = 0.9;  // snip_momentum's decay

  explicit ScoreTracker(Criterion criterion) : criterion_(criterion) {}

  // requires: w and g of the same shape and float dtype. Does nothing for magnitude.
  void observe(const Tensor& w, const Tensor& g);
  // Element scores (float32, w's shape). Throws when a gradient criterion has observed nothing.
  Tensor scores(const Tensor& w) const;
  // Called after a mask update (the gradient criterion restarts its mean).
  void after_update();

  Criterion criterion() const { return criterion_; }
  int64_t observations() const { return observations_; }
  // Accumulated state (undefined for magnitude), for checkpoints.
  const Tensor& state() const { return acc_; }
  void load_state(Tensor acc, int64_t observations);

 private:
  Criterion criterion_;
  Tensor acc_;                // float32, the weight's shape
  int64_t observations_ = 0;  // since the last update (gradient) or in total
};

}  // namespace tamp::compression::pruning
