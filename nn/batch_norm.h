// BatchNorm2d: ONNX BatchNormalization over (N, C, H, W). In train() mode it normalises with
// the batch statistics and updates the running ones (PyTorch's rule: running = (1 - momentum)
// * running + momentum * batch, unbiased batch variance); in eval() mode it uses the running
// statistics. Parameters "weight" (gamma, ones) and "bias" (beta, zeros); buffers
// "running_mean" (zeros) and "running_var" (ones), PyTorch's names.
//
//   nn::BatchNorm2d bn(32);
//   Variable y = bn.forward(x);   // train mode: updates bn's running statistics
#pragma once

#include <tamp/nn/layer.h>

namespace tamp::nn {

struct BatchNormOptions {
  double eps = 1e-5;
  double momentum = 0.1;  // PyTorch's convention (ONNX's momentum is 1 - this)
  bool affine = true;     // false: gamma = 1 and beta = 0, not trained
};

class BatchNorm2d : public Layer {
 public:
  explicit BatchNorm2d(int64_t num_features, BatchNormOptions options = {});
  Variable forward(const Variable& x) override;

  const Variable& running_mean() const { return running_mean_; }
  const Variable& running_var() const { return running_var_; }

 private:
  int64_t features_;
  std::shared_ptr<const Attributes> attrs_;
  Variable weight_, bias_, running_mean_, running_var_;
};

}  // namespace tamp::nn
