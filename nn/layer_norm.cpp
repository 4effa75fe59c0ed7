#include <tamp/nn/layer_norm.h>

#include <tamp/autograd/apply.h>

#include <algorithm>

namespace tamp::nn {

LayerNorm::LayerNorm(Shape normalized_shape, double eps, bool affine)
    : shape_(std::move(normalized_shape)) {
  TAMP_CHECK(
      !shape_.empty() && std::all_of(shape_.begin(), shape_.end(), [](int64_t d) { return d > 0; }),
      "LayerNorm: normalized_shape {} must be non-empty and positive", to_string(shape_));
  TAMP_CHECK(eps > 0, "LayerNorm: eps {} must be positive", eps);
  attrs_ = std::make_shared<const Attributes>(Attributes{
      {"axis", -static_cast<int64_t>(shape_.size())}, {"epsilon", static_cast<float>(eps)}});
  if (affine) {
    weight_ = register_parameter("weight", Tensor::ones(shape_));
    bias_ = register_parameter("bias", Tensor::zeros(shape_));
  } else {
    weight_ = Variable(Tensor::ones(shape_));
  }
}

Variable LayerNorm::forward(const Variable& x) {
  const Shape& s = x.shape();
  TAMP_CHECK(
      s.size() >= shape_.size() && std::equal(shape_.begin(), shape_.end(),
                                              s.end() - static_cast<std::ptrdiff_t>(shape_.size())),
      "LayerNorm: input {} must end in {}", describe(x.value()), to_string(shape_));
  static const OpDef& ln = OpRegistry::builtin().get("", "LayerNormalization", kMaxOpset);
  CallOptions options;
  options.num_outputs = 1;
  std::vector<Variable> in{x, weight_};
  if (bias_.defined()) in.push_back(bias_);
  return apply(ln, in, attrs_, options)[0];
}

}  // namespace tamp::nn
