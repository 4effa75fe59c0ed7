// Distillation: a Component that trains a student with a frozen teacher's outputs (logit KD)
// and, optionally, its intermediate values (feature distillation, with learned projections
// when widths differ). Loss and hooks: docs/distillation.md#how-the-components-run
//
//   auto kd = std::make_shared<Distillation>(teacher, DistillationOptions{.temperature = 4,
//       .alpha = 0.5, .layers = {{.student = "/conv2/Conv_output_0",
//                                 .teacher = "/conv2/Conv_output_0", .weight = 0.1}}});
//   Trainer(student, {kd}, {...}).run();
#pragma once

#include <tamp/compression/component.h>
#include <tamp/compression/distillation/losses.h>

#include <memory>
#include <string>
#include <vector>

namespace tamp::compression {

struct LayerPair {
  std::string student = {};  // value name in the student graph
  std::string teacher = {};  // value name in the teacher graph
  distillation::FeatureLoss loss = distillation::FeatureLoss::kMSE;
  double weight = 1;
  double temperature = 1;  // for the KL feature loss
  bool project = true;     // learn a projection when the widths differ
};

struct DistillationOptions {
  double temperature = 1;  // > 0
  double alpha = 0.5;      // in [0, 1]
  distillation::LogitLoss loss = distillation::LogitLoss::kKL;
  bool logits = true;               // false: intermediate layers only
  std::string student_output = {};  // empty: the student's first graph output
  std::string teacher_output = {};  // empty: the teacher's first graph output
  std::string student_input = {};   // empty: the only input
  std::string teacher_input = {};   // empty: the only input
  std::vector<LayerPair> layers = {};
  Tensor example_input = {};  // for the shape probe; empty: zeros of the declared shape
  uint64_t seed = 0;          // projection initialisation
};

class Distillation : public Component {
 public:
  Distillation(std::shared_ptr<nn::GraphModule> teacher, DistillationOptions options = {});
  ~Distillation() override;
  std::string name() const override { return "distillation"; }

  void attach(nn::GraphModule& model, nn::Collective& collective) override;
  std::vector<std::string> extra_outputs() const override;
  double task_loss_weight() const override;
  std::vector<std::pair<std::string, Variable>> trainable_parameters() const override;
  Variable extra_loss(const Batch& batch, const StepInfo& at) override;
  void on_epoch_end(const StepInfo& at) override;
  // "logits" and "layer<i>", as history() names them.
  std::vector<std::pair<std::string, double>> loss_terms() const override;
  std::map<std::string, Tensor> state() const override;
  void load_state(const std::map<std::string, Tensor>& state) override;

  // Per epoch, the mean of each term: "logits", "layer<i>" (weighted as added) and "total".
  const std::vector<std::map<std::string, double>>& history() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tamp::compression
