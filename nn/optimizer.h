// Optimizer: updates named parameters from their gradients, with per-parameter state
// (momentum buffers, Adam moments) that can be exported and imported by name.
//
//   nn::Sgd opt(model.named_parameters(), {.lr = 0.1, .momentum = 0.9});
//   loss.backward();
//   opt.step();                       // skips frozen parameters and those without a gradient
//   opt.zero_grad();
//   opt.set_lr(schedule.lr_at(step)); // LR schedules drive the rate
//   auto st = opt.state();            // {"fc.weight.momentum_buffer": ..., ...}
//   other.load_state(st);             // same names and shapes
//
// State keys are "<parameter name>.<slot>" (slots: "momentum_buffer" for SGD; "exp_avg",
// "exp_avg_sq", "max_exp_avg_sq" (amsgrad) and "step" (int64 scalar) for Adam/AdamW, as in
// PyTorch). A slot appears once the parameter has taken a step that creates it.
#pragma once

#include <tamp/autograd/variable.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tamp::nn {

using NamedParameters = std::vector<std::pair<std::string, Variable>>;

class Optimizer {
 public:
  Optimizer(NamedParameters params, double lr);
  virtual ~Optimizer() = default;

  // One update of every parameter that requires a gradient and has one.
  void step();
  // Makes every parameter's gradient undefined (the next backward allocates it afresh).
  void zero_grad();

  double lr() const { return lr_; }
  void set_lr(double lr);

  std::map<std::string, Tensor> state() const;
  // Strict: every key must name a parameter of this optimizer and one of its slots, with the
  // parameter's shape (step: a scalar). Parameters absent from `state` start afresh.
  void load_state(const std::map<std::string, Tensor>& state);

  const NamedParameters& parameters() const { return params_; }

 protected:
  // Per-parameter state: the slots' tensors (undefined until first used) and a step count.
  struct ParamState {
    std::vector<Tensor> slots;
    int64_t step = 0;
  };
  // Slot names of this optimizer, in the order of ParamState::slots.
  virtual std::vector<std::string> slot_names() const = 0;
  // Whether `state()` exports the step count (Adam's bias correction needs it).
  virtual bool exports_step() const { return false; }
  // Updates one parameter value in place from its gradient (same shape and dtype).
  virtual void update(Tensor& value, const Tensor& grad, ParamState& state) = 0;

 private:
  NamedParameters params_;
  std::vector<ParamState> states_;
  double lr_;
};

}  // namespace tamp::nn
