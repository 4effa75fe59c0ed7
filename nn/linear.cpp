#include <tamp/nn/linear.h>

#include <tamp/autograd/apply.h>
#include <tamp/nn/functional.h>
#include <tamp/nn/init.h>

namespace tamp::nn {

Linear::Linear(int64_t in_features, int64_t out_features, bool bias, Generator& rng)
    : in_(in_features), out_(out_features) {
  TAMP_CHECK(in_features > 0 && out_features > 0, "Linear: features ({} -> {}) must be positive",
             in_features, out_features);
  weight_ = register_parameter("weight", init::kaiming_uniform({out_, in_}, in_, rng));
  if (bias) bias_ = register_parameter("bias", init::fan_in_uniform({out_}, in_, rng));
}

Variable Linear::forward(const Variable& x) {
  TAMP_CHECK(x.value().rank() >= 1 && x.shape().back() == in_,
             "Linear({} -> {}): input {} must end in {}", in_, out_, describe(x.value()), in_);
  static const OpDef& gemm = OpRegistry::builtin().get("", "Gemm", kMaxOpset);
  static const auto attrs = std::make_shared<const Attributes>(Attributes{{"transB", int64_t{1}}});
  std::vector<Variable> in{x.value().rank() == 2 ? x : reshape(x, {-1, in_}), weight_};
  if (bias_.defined()) in.push_back(bias_);
  Variable y = apply(gemm, in, attrs)[0];
  if (x.value().rank() == 2) return y;
  Shape out_shape = x.shape();
  out_shape.back() = out_;
  return reshape(y, out_shape);
}

}  // namespace tamp::nn
