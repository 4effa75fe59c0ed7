#include <tamp/nn/dropout.h>

#include <tamp/autograd/apply.h>

namespace tamp::nn {

Dropout::Dropout(double p, Generator* rng) : p_(p), rng_(rng) {
  TAMP_CHECK(p >= 0 && p < 1, "Dropout: p {} must be in [0, 1)", p);
}

Variable Dropout::forward(const Variable& x) {
  if (!is_training() || p_ == 0) return x;
  static const OpDef& dropout = OpRegistry::builtin().get("", "Dropout", kMaxOpset);
  CallOptions options;
  options.training = true;
  options.rng = rng_;
  options.num_outputs = 1;
  const Variable ratio(Tensor::scalar(p_, x.dtype()));
  return apply(dropout, {x, ratio}, nullptr, options)[0];
}

}  // namespace tamp::nn
