// Component: a compression method as the training loop sees it. Quantization, pruning and
// distillation each implement it; the Scheduler (scheduler/) drives a list of them.
//
//   class MyPruning : public Component {
//     void attach(nn::GraphModule& m, nn::Collective&) override { /* register masks */ }
//     void on_after_step(const StepInfo& s) override { /* re-apply masks */ }
//   };
#pragma once

#include <tamp/nn/collective.h>
#include <tamp/nn/graph_module.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tamp::compression {

// Where the loop is. Steps count optimizer steps from the start of the stage.
struct StepInfo {
  int epoch = 0;
  int64_t step = 0;  // within the stage
  int64_t steps_per_epoch = 0;
  int64_t total_steps = 0;  // of the stage
};

// What one forward pass produced, for components that add a loss.
struct Batch {
  const std::map<std::string, Variable>& inputs;  // graph inputs fed to the model
  const Variable& labels;                         // may be undefined (unlabelled data)
  const std::map<std::string, Variable>& values;  // the model's outputs plus extra_outputs()
};

// The loop calls, for one stage (an ordered list of components trained together):
//   attach(model)                     once, before anything else, in list order
//   on_stage_begin(stage)
//   trainable_parameters()            once; trained alongside the model's parameters
//   for each epoch:
//     on_epoch_begin(step)
//     for each batch:
//       on_step_begin(step)           may change the model (pruning schedules update masks)
//       forward; loss = task_loss_weight-scaled task loss + sum of extra_loss(batch)
//       backward
//       on_after_backward(step)       may edit gradients (masks, clipping)
//       optimizer step
//       on_after_step(step)           may edit parameters (re-apply masks, observer updates)
//     on_epoch_end(step)
//   finalize(model)                   once: bake masks, freeze scales, drop training-only parts
//
// A component that only calibrates (post-training quantization) says needs_training() false;
// the loop then runs forward passes over the calibration data, calling on_calibration_batch.
class Component {
 public:
  virtual ~Component() = default;
  // The method's recipe key (qat, ptq, pruning, pattern_lock, distillation,
  // self_distillation): one name in recipes, logs, summaries and reports.
  virtual std::string name() const = 0;

  // requires: called once, before training, with the model this component compresses.
  // ensures: the model's graph carries what the method needs (FakeQuantize nodes, masks, hooks);
  //          collective is kept for reductions that must agree across ranks.
  virtual void attach(nn::GraphModule& model, nn::Collective& collective) = 0;

  // Values (by graph name) the loop must also return from the forward pass (distillation's
  // intermediate layers).
  virtual std::vector<std::string> extra_outputs() const { return {}; }
  // Scales the task (hard-label) loss; distillation mixes it with its own by alpha.
  virtual double task_loss_weight() const { return 1.0; }
  // Trainable parameters the component owns (distillation's projections, self-distillation's
  // classifier heads), with names unique across components.
  // requires: called after on_stage_begin (create them in attach).
  // ensures: the loop trains them with the model's parameters (same optimizer, gradients
  //          averaged over ranks); they are not in the model's graph, so export drops them.
  virtual std::vector<std::pair<std::string, Variable>> trainable_parameters() const { return {}; }

  virtual void on_stage_begin(const StepInfo& at) {}
  virtual void on_epoch_begin(const StepInfo& at) {}
  virtual void on_step_begin(const StepInfo& at) {}
  // ensures: an undefined Variable or a scalar loss to add to the total.
  virtual Variable extra_loss(const Batch& batch, const StepInfo& at) { return {}; }
  // The terms of the last extra_loss, each as added (their sum is its value), for the loop's
  // log next to the task loss; the loop names them "<name()>.<term>".
  virtual std::vector<std::pair<std::string, double>> loss_terms() const { return {}; }
  virtual void on_after_backward(const StepInfo& at) {}
  virtual void on_after_step(const StepInfo& at) {}
  virtual void on_epoch_end(const StepInfo& at) {}

  // Calibration-only components (PTQ) are not trained: the loop feeds them batches instead.
  virtual bool needs_training() const { return true; }
  virtual void on_calibration_batch(const Batch& batch) {}

  // requires: training (or calibration) of the stage is over.
  // ensures: the model holds the final compressed form (masks baked, scales frozen); later
  //          stages see it as their starting point.
  virtual void finalize(nn::GraphModule& model) {}

  // Everything needed to resume exactly (observer ranges, masks, schedule position), by name.
  virtual std::map<std::string, Tensor> state() const { return {}; }
  virtual void load_state(const std::map<std::string, Tensor>& state) {}
};

}  // namespace tamp::compression
