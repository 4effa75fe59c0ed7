// LayerNorm: ONNX LayerNormalization over the trailing dims `normalized_shape`, with
// "weight" (ones) and "bias" (zeros) of that shape, as torch.nn.LayerNorm.
//
//   nn::LayerNorm ln({128});
//   Variable y = ln.forward(x);   // x (N, S, 128)
#pragma once

#include <tamp/nn/layer.h>

namespace tamp::nn {

class LayerNorm : public Layer {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true);
  Variable forward(const Variable& x) override;

 private:
  Shape shape_;
  std::shared_ptr<const Attributes> attrs_;
  Variable weight_, bias_;
};

}  // namespace tamp::nn
