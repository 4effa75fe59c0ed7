// BatchNorm re-estimation: running mean and variance recomputed on calibration batches (as
// PyTorch with momentum=None), after pruning and before BatchNorm is folded (a stage before
// ptq). Method: docs/ptq_recovery.md#batchnorm-re-estimation
//
//   Trainer(model, {std::make_shared<BatchNormReestimation>()},
//           {.train = data, .calibration_batches = 32}).run();
#pragma once

#include <tamp/compression/component.h>

#include <string>
#include <vector>

namespace tamp::compression {

class BatchNormReestimation : public Component {
 public:
  std::string name() const override { return "batch_norm_reestimation"; }
  // requires: the model has at least one BatchNormalization with running statistics.
  void attach(nn::GraphModule& model, nn::Collective& collective) override;
  bool needs_training() const override { return false; }
  // Runs the batch once more in training mode and accumulates each BatchNorm's batch
  // statistics.
  void on_calibration_batch(const Batch& batch) override;
  // ensures: every BatchNorm's running mean and variance hold the means over the batches seen
  //          (over every rank). Throws when no batch was seen.
  void finalize(nn::GraphModule& model) override;
  int64_t batches_seen() const { return batches_; }

 private:
  struct Stats {
    std::string input, mean, var;  // the BN's X and its running-statistic buffers
    std::vector<double> mean_sum, var_sum;
  };
  nn::GraphModule* model_ = nullptr;
  nn::Collective* collective_ = nullptr;
  std::vector<Stats> stats_;
  int64_t batches_ = 0;
};

}  // namespace tamp::compression
