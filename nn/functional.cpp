#include <tamp/nn/functional.h>

#include <tamp/autograd/apply.h>

#include <cmath>

namespace tamp::nn {

namespace {

Variable op(std::string_view type, const std::vector<Variable>& inputs, Attributes attrs = {}) {
  return apply1(type, inputs, std::move(attrs));
}

Attributes pool_attrs(int64_t kernel, int64_t stride, int64_t padding) {
  TAMP_CHECK(kernel > 0 && stride >= 0 && padding >= 0,
             "pool2d: kernel {}, stride {}, padding {} are invalid", kernel, stride, padding);
  const int64_t s = stride ? stride : kernel;
  return {{"kernel_shape", std::vector<int64_t>{kernel, kernel}},
          {"strides", std::vector<int64_t>{s, s}},
          {"pads", std::vector<int64_t>{padding, padding, padding, padding}}};
}

}  // namespace

Variable relu(const Variable& x) { return op("Relu", {x}); }
Variable leaky_relu(const Variable& x, double slope) {
  return op("LeakyRelu", {x}, {{"alpha", static_cast<float>(slope)}});
}
Variable sigmoid(const Variable& x) { return op("Sigmoid", {x}); }
Variable tanh(const Variable& x) { return op("Tanh", {x}); }

Variable gelu(const Variable& x) {
  const Variable inv_sqrt2(Tensor::scalar(1 / std::sqrt(2.0), x.dtype()));
  const Variable half(Tensor::scalar(0.5, x.dtype()));
  const Variable one(Tensor::scalar(1.0, x.dtype()));
  const Variable e = op("Erf", {op("Mul", {x, inv_sqrt2})});
  return op("Mul", {op("Mul", {x, half}), op("Add", {e, one})});
}

Variable softmax(const Variable& x, int64_t axis) { return op("Softmax", {x}, {{"axis", axis}}); }
Variable log_softmax(const Variable& x, int64_t axis) {
  return op("LogSoftmax", {x}, {{"axis", axis}});
}

Variable flatten(const Variable& x, int64_t axis) { return op("Flatten", {x}, {{"axis", axis}}); }

Variable reshape(const Variable& x, const std::vector<int64_t>& shape) {
  const Variable s(Tensor::from_vector<int64_t>({static_cast<int64_t>(shape.size())}, shape));
  return op("Reshape", {x, s});
}

Variable max_pool2d(const Variable& x, int64_t kernel, int64_t stride, int64_t padding) {
  return op("MaxPool", {x}, pool_attrs(kernel, stride, padding));
}

Variable avg_pool2d(const Variable& x, int64_t kernel, int64_t stride, int64_t padding) {
  Attributes a = pool_attrs(kernel, stride, padding);
  a.set("count_include_pad", int64_t{1});  // PyTorch's default
  return op("AveragePool", {x}, std::move(a));
}

Variable global_avg_pool(const Variable& x) { return op("GlobalAveragePool", {x}); }

}  // namespace tamp::nn
