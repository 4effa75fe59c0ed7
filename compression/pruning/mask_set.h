// Masks beside parameters: each masked parameter gets a gradient hook (grad * mask) and can
// have the mask re-applied to its value. Shared by Pruning and PatternLock.
//
//   MaskSet masks;
//   masks.add("fc.weight", model.parameter("fc.weight"), Tensor::ones({128, 1600}));
//   masks.mask("fc.weight").data<float>()[0] = 0;   // edit in place; the hook sees it
//   masks.refresh("fc.weight");                       // after editing: is anything pruned?
//   masks.apply_to_values();                          // after each optimizer step
#pragma once

#include <tamp/autograd/variable.h>

#include <map>
#include <memory>
#include <string>

namespace tamp::compression::pruning {

class MaskSet {
 public:
  MaskSet() = default;
  MaskSet(const MaskSet&) = delete;
  MaskSet& operator=(const MaskSet&) = delete;
  ~MaskSet();

  // requires: mask of the parameter's shape (any float dtype; stored in the parameter's).
  void add(const std::string& name, Variable param, const Tensor& mask);
  bool has(const std::string& name) const { return entries_.count(name) != 0; }
  // The stored mask (shares storage: edit it in place, then refresh).
  Tensor& mask(const std::string& name);
  const Variable& param(const std::string& name) const;
  void refresh(const std::string& name);

  // value *= mask for every parameter with a pruned element.
  void apply_to_values();
  // grad *= mask where a gradient exists (after a mask changed between backward and step).
  void apply_to_grads();
  // Removes the gradient hooks; the set forgets its parameters.
  void release();
  // Keeps the hooks alive after this set is destroyed (they own what they use).
  void leave_hooks() { leave_hooks_ = true; }

  std::map<std::string, Tensor> masks() const;
  int64_t pruned(const std::string& name) const;  // zeros in the mask

 private:
  struct Entry;
  std::map<std::string, std::shared_ptr<Entry>> entries_;
  bool leave_hooks_ = false;
};

// x *= mask elementwise (same shape, float32 or float64 each).
void multiply_in_place(Tensor& x, const Tensor& mask);

}  // namespace tamp::compression::pruning
