// Adam and AdamW with PyTorch's semantics (torch.optim.Adam / AdamW, single-tensor path):
//   Adam:  d = g + weight_decay * p          (L2 penalty folded into the gradient)
//   AdamW: p *= 1 - lr * weight_decay; d = g (decoupled decay)
//   m = b1 m + (1 - b1) d;  v = b2 v + (1 - b2) d^2;  (amsgrad: vmax = max(vmax, v), use vmax)
//   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// t counts the steps each parameter has taken.
//
//   nn::AdamW opt(model.named_parameters(), {.lr = 1e-3, .weight_decay = 0.01});
#pragma once

#include <tamp/nn/optimizer.h>

namespace tamp::nn {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;  // Adam: L2 in the gradient; AdamW: decoupled
  bool amsgrad = false;
};

class Adam : public Optimizer {
 public:
  Adam(NamedParameters params, AdamOptions options);
  const AdamOptions& options() const { return options_; }

 protected:
  std::vector<std::string> slot_names() const override {
    return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  }
  bool exports_step() const override { return true; }
  void update(Tensor& value, const Tensor& grad, ParamState& state) override;
  virtual bool decoupled() const { return false; }

 private:
  AdamOptions options_;
};

// AdamW's default weight decay is 0.01, as in PyTorch.
class AdamW : public Adam {
 public:
  AdamW(NamedParameters params, AdamOptions options = {.weight_decay = 0.01});

 protected:
  bool decoupled() const override { return true; }
};

}  // namespace tamp::nn
