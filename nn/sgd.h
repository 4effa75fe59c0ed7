// Stochastic gradient descent with PyTorch's semantics (torch.optim.SGD):
//   d = g + weight_decay * p
//   buf = momentum * buf + (1 - dampening) * d     (buf = d on the first step)
//   d = nesterov ? d + momentum * buf : buf        (when momentum != 0)
//   p -= lr * d
//
//   nn::Sgd opt(model.named_parameters(), {.lr = 0.01, .momentum = 0.9, .nesterov = true});
#pragma once

#include <tamp/nn/optimizer.h>

namespace tamp::nn {

struct SgdOptions {
  double lr = 0.01;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;  // needs momentum > 0 and dampening == 0
};

class Sgd : public Optimizer {
 public:
  Sgd(NamedParameters params, SgdOptions options);
  const SgdOptions& options() const { return options_; }

 protected:
  std::vector<std::string> slot_names() const override { return {"momentum_buffer"}; }
  void update(Tensor& value, const Tensor& grad, ParamState& state) override;

 private:
  SgdOptions options_;
};

}  // namespace tamp::nn
