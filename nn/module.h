// Module: named parameters (trainable Variables), buffers (state such as BatchNorm running
// statistics) and child modules, with train/eval mode and a state_dict.
//
//   struct Head : Module {
//     std::shared_ptr<Linear> fc = register_module("fc", std::make_shared<Linear>(128, 10));
//   };
//   Head h;  h.named_parameters();  // {"fc.weight", ...}, {"fc.bias", ...}
#pragma once

#include <tamp/autograd/variable.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tamp::nn {

class Module {
 public:
  virtual ~Module() = default;

  // Registration order, children after their parent's own entries, names joined by '.'.
  std::vector<std::pair<std::string, Variable>> named_parameters() const;
  std::vector<Variable> parameters() const;
  std::vector<std::pair<std::string, Variable>> named_buffers() const;
  // Parameters and buffers by name (values share storage with the module).
  std::map<std::string, Tensor> state_dict() const;
  // Copies values in; strict: every entry must match a parameter or buffer by name and
  // shape, and every parameter and buffer must be given.
  void load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();

 protected:
  Variable register_parameter(std::string name, Tensor value);
  Variable register_buffer(std::string name, Tensor value);
  template <class M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> module) {
    children_.emplace_back(std::move(name), module);
    return module;
  }
  // Registers an existing Variable (kept across graph rewrites so optimizer state stays valid).
  void adopt_parameter(std::string name, Variable v) {
    params_.emplace_back(std::move(name), std::move(v));
  }
  void adopt_buffer(std::string name, Variable v) {
    buffers_.emplace_back(std::move(name), std::move(v));
  }
  void clear_parameters_and_buffers() {
    params_.clear();
    buffers_.clear();
  }
  // Lets subclasses react to train()/eval() (GraphModule switches its ops' mode).
  virtual void on_train(bool on) {}

 private:
  void collect(const std::string& prefix, bool buffers,
               std::vector<std::pair<std::string, Variable>>& out) const;

  bool training_ = true;
  std::vector<std::pair<std::string, Variable>> params_;
  std::vector<std::pair<std::string, Variable>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

}  // namespace tamp::nn
