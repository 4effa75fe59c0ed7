// SelfDistillation: deeper parts of one model teach shallower ones ("Be Your Own Teacher"):
// a small classifier head on each shallow value learns from the labels and the model's own
// logits. Loss, heads and names: docs/distillation.md#how-the-components-run
//
//   auto sd = std::make_shared<SelfDistillation>(SelfDistillationOptions{.temperature = 3,
//       .pairs = {{.shallow = "/pool1/MaxPool_output_0", .deep = "/pool2/MaxPool_output_0",
//                  .feature_weight = 0.05}}});
//   Trainer(model, {sd}, {...}).run();          // heads trained, dropped at export
#pragma once

#include <tamp/compression/component.h>

#include <memory>
#include <string>
#include <vector>

namespace tamp::compression {

struct SelfDistillationPair {
  std::string shallow = {};  // a value early in the model
  std::string deep = {};     // a deeper value for the feature term ("" : none)
  double kd_weight = 1;
  double label_weight = 0.3;
  double feature_weight = 0;  // needs `deep`
};

struct SelfDistillationOptions {
  double temperature = 3;
  std::vector<SelfDistillationPair> pairs = {};
  std::string output = {};    // the logits; empty: the first graph output
  std::string input = {};     // empty: the only input
  Tensor example_input = {};  // for the shape probe
  uint64_t seed = 0;          // heads and projections
  int64_t head_grid = 4;      // in [1, 64]
  int64_t head_hidden = 64;   // in [0, 65536]; 0: a linear head
};

class SelfDistillation : public Component {
 public:
  explicit SelfDistillation(SelfDistillationOptions options);
  ~SelfDistillation() override;
  std::string name() const override { return "self_distillation"; }

  void attach(nn::GraphModule& model, nn::Collective& collective) override;
  std::vector<std::string> extra_outputs() const override;
  std::vector<std::pair<std::string, Variable>> trainable_parameters() const override;
  Variable extra_loss(const Batch& batch, const StepInfo& at) override;
  void on_epoch_end(const StepInfo& at) override;
  // "head<i>.kd", "head<i>.ce", "head<i>.feature", as history() names them.
  std::vector<std::pair<std::string, double>> loss_terms() const override;
  std::map<std::string, Tensor> state() const override;

  const std::vector<std::map<std::string, double>>& history() const;
  // The logits of head i on the values of a forward pass (for measuring a shallow exit).
  Variable head_logits(size_t i, const std::map<std::string, Variable>& values) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tamp::compression
