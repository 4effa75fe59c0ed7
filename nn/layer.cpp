#include <tamp/nn/layer.h>

namespace tamp::nn {

Lambda::Lambda(std::function<Variable(const Variable&)> fn) : fn_(std::move(fn)) {
  TAMP_CHECK(fn_ != nullptr, "Lambda: the function is empty");
}

}  // namespace tamp::nn
