// Variable: a Tensor that takes part in autograd — value, grad, requires_grad, and the node
// of the tape that made it. Copying a Variable shares it (like a shared_ptr).
//
//   Variable w(Tensor::ones({3}), /*requires_grad=*/true);
//   Variable loss = apply1("ReduceSum", {apply1("Mul", {w, w})});   // apply.h
//   loss.backward();                // w.grad() == 2 * w
//   w.add_hook([&](const Tensor& g) { return masked(g); });   // pruning masks gradients
//   { NoGradGuard no_grad; ... }   // nothing recorded inside
#pragma once

#include <tamp/autograd/tensor.h>

#include <functional>
#include <memory>
#include <string>

namespace tamp {

class Node;
struct VariableImpl;

// Receives the gradient flowing into a Variable and returns the one to use instead.
using GradHook = std::function<Tensor(const Tensor& grad)>;

class Variable {
 public:
  Variable() = default;  // undefined
  explicit Variable(Tensor value, bool requires_grad = false);

  bool defined() const { return impl_ != nullptr; }
  const Tensor& value() const;
  void set_value(Tensor value);  // replaces the value (same shape expected by users)
  const Shape& shape() const { return value().shape(); }
  DType dtype() const { return value().dtype(); }

  const Tensor& grad() const;  // undefined until a backward reaches it
  void set_grad(Tensor grad);
  void zero_grad();  // makes grad undefined again

  bool requires_grad() const;
  Variable& set_requires_grad(bool enabled);
  bool is_leaf() const;  // not produced by a recorded op
  const std::string& name() const;
  Variable& set_name(std::string name);

  // Hooks run in the order added, on the total gradient of this Variable, before it is
  // accumulated (leaf) or propagated (non-leaf). Returns an id for remove_hook.
  int add_hook(GradHook hook);
  void remove_hook(int id);

  // Reverse-mode differentiation from this Variable. `seed` defaults to 1 for a scalar.
  void backward(Tensor seed = {}) const;
  Variable detach() const;  // same value (shared), no history, no grad

  const std::shared_ptr<Node>& grad_fn() const;
  int output_index() const;
  bool same(const Variable& other) const { return impl_ == other.impl_; }

  // For the engine.
  const std::shared_ptr<VariableImpl>& impl() const { return impl_; }
  static Variable from_impl(std::shared_ptr<VariableImpl> impl);

 private:
  std::shared_ptr<VariableImpl> impl_;
};

// Backward from several roots at once (e.g. every output of a multi-output op), each with
// its seed (undefined = 1 for a scalar root).
void backward(const std::vector<Variable>& roots, std::vector<Tensor> seeds);

// While alive, ops record nothing on the tape (evaluation, optimizer updates).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

bool grad_mode_enabled();

}  // namespace tamp
