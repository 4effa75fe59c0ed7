#include <tamp/nn/sequential.h>

#include <string>

namespace tamp::nn {

Sequential::Sequential(std::vector<std::shared_ptr<Layer>> layers) {
  for (auto& l : layers) push_back(std::move(l));
}

void Sequential::push_back(std::shared_ptr<Layer> layer) {
  TAMP_CHECK(layer != nullptr, "Sequential: layer {} is null", layers_.size());
  layers_.push_back(register_module(std::to_string(layers_.size()), std::move(layer)));
}

Variable Sequential::forward(const Variable& x) {
  Variable y = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    TAMP_WITH_CONTEXT(fmt::format("Sequential layer {}", i), y = layers_[i]->forward(y));
  }
  return y;
}

}  // namespace tamp::nn
