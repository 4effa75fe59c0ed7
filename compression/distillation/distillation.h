// Distillation: a Component that trains a student with a frozen teacher's outputs (logit KD)
// and, optionally, its intermediate values (feature distillation).
//
//   auto teacher = std::make_shared<nn::GraphModule>(io::load_onnx("cnn_wide.onnx"));
//   auto kd = std::make_shared<compression::Distillation>(teacher, compression::DistillationOptions{
//       .temperature = 4, .alpha = 0.5,
//       .layers = {{.student = "/conv2/Conv_output_0", .teacher = "/conv2/Conv_output_0",
//                   .loss = distillation::FeatureLoss::kMSE, .weight = 0.1}}});
//   Trainer(student, {kd}, {...}).run();
//
// Loss: (1 - alpha) * task loss (through task_loss_weight) + alpha * logit loss (losses.h, at
// `temperature`) + sum over layers of weight * feature loss. With logits = false only the
// layer losses are added and the task loss keeps weight 1.
//
// Contract (component.h):
//   constructor  freezes the teacher (requires_grad off) and puts it in eval mode.
//   attach       checks every value name exists (an error names the missing one and the
//                model), finds the shapes of the compared values with one forward pass of each
//                model on a zero example (batch 2; `example_input` when an input dim is not
//                declared), checks the teacher's output has the student's shape (an error names
//                both), and creates a learned projection (1x1 Conv for (N, C, H, W), Linear on
//                the last axis for (N, C) and (N, S, C)) for each layer pair whose widths differ
//                (project = false makes that an error). The teacher reads the student's input
//                (reshaped when only its per-example layout differs, flat vs image).
//   trainable_parameters  the projections ("distillation.layer<i>.weight" / ".bias"), trained
//                with the student, never part of its graph: export drops them.
//   extra_loss   runs the teacher under NoGradGuard (no tape, nothing kept for backward).
//   on_epoch_end appends the epoch's mean of each loss term to history().
//   loss_terms   the last step's terms, weighted as added.
//   state        the projections' parameters.
#pragma once

#include <tamp/compression/component.h>
#include <tamp/compression/distillation/losses.h>

#include <memory>
#include <string>
#include <vector>

namespace tamp::compression {

struct LayerPair {
  std::string student = {};            // value name in the student graph
  std::string teacher = {};            // value name in the teacher graph
  distillation::FeatureLoss loss = distillation::FeatureLoss::kMSE;
  double weight = 1;
  double temperature = 1;              // for the KL feature loss
  bool project = true;                 // learn a projection when the widths differ
};

struct DistillationOptions {
  double temperature = 1;              // > 0
  double alpha = 0.5;                  // in [0, 1]
  distillation::LogitLoss loss = distillation::LogitLoss::kKL;
  bool logits = true;                  // false: intermediate layers only
  std::string student_output = {};     // empty: the student's first graph output
  std::string teacher_output = {};     // empty: the teacher's first graph output
  std::string student_input = {};      // empty: the only input
  std::string teacher_input = {};      // empty: the only input
  std::vector<LayerPair> layers = {};
  Tensor example_input = {};           // for the shape probe; empty: zeros of the declared shape
  uint64_t seed = 0;                   // projection initialisation
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
