// Conv2d: ONNX Conv over (N, C, H, W) with weight (out, in / groups, kh, kw) and optional bias,
// PyTorch's parameters and default initialisation (U(±1/sqrt(fan_in)), fan_in = in / groups
// * kh * kw, for weight and bias).
//
//   nn::Conv2d conv(1, 32, 3, {.padding = 1});
//   Variable y = conv.forward(x);   // (N, 32, H, W)
#pragma once

#include <tamp/autograd/random.h>
#include <tamp/nn/layer.h>

namespace tamp::nn {

// A (height, width) pair; one number means both.
struct Size2 {
  Size2(int64_t both) : h(both), w(both) {}  // NOLINT: implicit on purpose
  Size2(int64_t height, int64_t width) : h(height), w(width) {}
  int64_t h, w;
};

struct Conv2dOptions {
  Size2 stride = 1;
  Size2 padding = 0;  // zeros on both sides of each spatial dim
  Size2 dilation = 1;
  int64_t groups = 1;
  bool bias = true;
};

class Conv2d : public Layer {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, Size2 kernel, Conv2dOptions options = {},
         Generator& rng = default_generator());
  Variable forward(const Variable& x) override;

  const Variable& weight() const { return weight_; }
  const Variable& bias() const { return bias_; }

 private:
  int64_t in_;
  std::shared_ptr<const Attributes> attrs_;
  Variable weight_, bias_;
};

}  // namespace tamp::nn
