// Optimizer: updates named parameters from their gradients, with per-parameter state
// (momentum buffers, Adam moments) exported and imported by name.
//
//   nn::Sgd opt(model.named_parameters(), {.lr = 0.1, .momentum = 0.9});
//   loss.backward();  opt.step();  opt.zero_grad();   // step skips frozen and gradient-less ones
//   other.load_state(opt.state());                     // same names and shapes
// State keys: docs/nn.md#optimizers
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
