#include <tamp/nn/batch_norm.h>

#include <tamp/autograd/apply.h>

namespace tamp::nn {

BatchNorm2d::BatchNorm2d(int64_t num_features, BatchNormOptions o) : features_(num_features) {
  TAMP_CHECK(num_features > 0, "BatchNorm2d: num_features {} must be positive", num_features);
  TAMP_CHECK(o.eps > 0 && o.momentum >= 0 && o.momentum <= 1,
             "BatchNorm2d: eps {} or momentum {} is invalid", o.eps, o.momentum);
  attrs_ = std::make_shared<const Attributes>(Attributes{
      {"epsilon", static_cast<float>(o.eps)}, {"momentum", static_cast<float>(1 - o.momentum)}});
  if (o.affine) {
    weight_ = register_parameter("weight", Tensor::ones({num_features}));
    bias_ = register_parameter("bias", Tensor::zeros({num_features}));
  } else {
    weight_ = Variable(Tensor::ones({num_features}));
    bias_ = Variable(Tensor::zeros({num_features}));
  }
  running_mean_ = register_buffer("running_mean", Tensor::zeros({num_features}));
  running_var_ = register_buffer("running_var", Tensor::ones({num_features}));
}

Variable BatchNorm2d::forward(const Variable& x) {
  TAMP_CHECK(x.value().rank() == 4 && x.shape()[1] == features_,
             "BatchNorm2d: input {} must be (N, {}, H, W)", describe(x.value()), features_);
  static const OpDef& bn = OpRegistry::builtin().get("", "BatchNormalization", kMaxOpset);
  const bool training = is_training();
  CallOptions options;
  options.training = training;
  options.num_outputs = training ? 3 : 1;
  auto outs = apply(bn, {x, weight_, bias_, running_mean_, running_var_}, attrs_, options);
  if (training) {
    running_mean_.set_value(outs.at(1).value());
    running_var_.set_value(outs.at(2).value());
  }
  return outs[0];
}

}  // namespace tamp::nn
