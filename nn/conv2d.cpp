#include <tamp/nn/conv2d.h>

#include <tamp/autograd/apply.h>
#include <tamp/nn/init.h>

namespace tamp::nn {

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, Size2 kernel, Conv2dOptions o,
               Generator& rng)
    : in_(in_channels) {
  TAMP_CHECK(in_channels > 0 && out_channels > 0 && o.groups > 0 && in_channels % o.groups == 0 &&
                 out_channels % o.groups == 0,
             "Conv2d: channels {} -> {} must be positive multiples of groups ({})", in_channels,
             out_channels, o.groups);
  TAMP_CHECK(kernel.h > 0 && kernel.w > 0 && o.stride.h > 0 && o.stride.w > 0 && o.dilation.h > 0 &&
                 o.dilation.w > 0 && o.padding.h >= 0 && o.padding.w >= 0,
             "Conv2d: kernel {}x{}, stride {}x{}, dilation {}x{}, padding {}x{} are invalid",
             kernel.h, kernel.w, o.stride.h, o.stride.w, o.dilation.h, o.dilation.w, o.padding.h,
             o.padding.w);
  attrs_ = std::make_shared<const Attributes>(
      Attributes{{"kernel_shape", std::vector<int64_t>{kernel.h, kernel.w}},
                 {"strides", std::vector<int64_t>{o.stride.h, o.stride.w}},
                 {"pads", std::vector<int64_t>{o.padding.h, o.padding.w, o.padding.h, o.padding.w}},
                 {"dilations", std::vector<int64_t>{o.dilation.h, o.dilation.w}},
                 {"group", o.groups}});
  const int64_t fan_in = in_channels / o.groups * kernel.h * kernel.w;
  weight_ = register_parameter(
      "weight", init::kaiming_uniform({out_channels, in_channels / o.groups, kernel.h, kernel.w},
                                      fan_in, rng));
  if (o.bias) bias_ = register_parameter("bias", init::fan_in_uniform({out_channels}, fan_in, rng));
}

Variable Conv2d::forward(const Variable& x) {
  TAMP_CHECK(x.value().rank() == 4 && x.shape()[1] == in_, "Conv2d: input {} must be (N, {}, H, W)",
             describe(x.value()), in_);
  static const OpDef& conv = OpRegistry::builtin().get("", "Conv", kMaxOpset);
  std::vector<Variable> in{x, weight_};
  if (bias_.defined()) in.push_back(bias_);
  return apply(conv, in, attrs_)[0];
}

}  // namespace tamp::nn
