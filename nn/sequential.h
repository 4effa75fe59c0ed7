// Sequential: layers applied in order; children are named "0", "1", ... as in PyTorch, so
// parameters read "0.weight", "2.bias".
//
//   auto mlp = std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Layer>>{
//       std::make_shared<nn::Linear>(784, 512), std::make_shared<nn::Lambda>(nn::relu),
//       std::make_shared<nn::Linear>(512, 10)});
//   Variable logits = mlp->forward(x);
#pragma once

#include <tamp/nn/layer.h>

#include <memory>
#include <vector>

namespace tamp::nn {

class Sequential : public Layer {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<Layer>> layers);

  void push_back(std::shared_ptr<Layer> layer);
  Variable forward(const Variable& x) override;
  size_t size() const { return layers_.size(); }
  const std::shared_ptr<Layer>& operator[](size_t i) const { return layers_.at(i); }

 private:
  std::vector<std::shared_ptr<Layer>> layers_;
};

}  // namespace tamp::nn
