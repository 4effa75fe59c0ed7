// Linear: y = x W^T + b, W (out_features, in_features) as in PyTorch, run as one ONNX Gemm
// (transB = 1) over all leading dims of x. Default initialisation is PyTorch's:
// W ~ kaiming_uniform(a = sqrt(5)) = U(±1/sqrt(in)), b ~ U(±1/sqrt(in)).
//
//   nn::Linear fc(784, 512);                  // params "weight", "bias"
//   Variable y = fc.forward(x);               // x (N, 784) or (N, S, 784)
#pragma once

#include <tamp/autograd/random.h>
#include <tamp/nn/layer.h>

namespace tamp::nn {

class Linear : public Layer {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true,
         Generator& rng = default_generator());
  Variable forward(const Variable& x) override;

  const Variable& weight() const { return weight_; }
  const Variable& bias() const { return bias_; }  // undefined without bias
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

 private:
  int64_t in_, out_;
  Variable weight_, bias_;
};

}  // namespace tamp::nn
