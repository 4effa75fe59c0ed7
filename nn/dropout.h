// Dropout: in train() mode zeroes each element with probability p and scales the rest by
// 1 / (1 - p) (ONNX Dropout); in eval() mode passes x through. Masks come from `rng` (the
// default generator when null), so a seeded generator repeats them.
//
//   nn::Dropout drop(0.1);
//   Variable y = drop.forward(x);
#pragma once

#include <tamp/autograd/random.h>
#include <tamp/nn/layer.h>

namespace tamp::nn {

class Dropout : public Layer {
 public:
  explicit Dropout(double p = 0.5, Generator* rng = nullptr);
  Variable forward(const Variable& x) override;

 private:
  double p_;
  Generator* rng_;
};

}  // namespace tamp::nn
