#include <tamp/autograd/kernels/broadcast.h>
#include <tamp/autograd/ops/op_helpers.h>

namespace tamp::ops {

const Tensor& input(const std::vector<Tensor>& inputs, size_t i, const char* name) {
  if (i >= inputs.size() || !inputs[i].defined()) {
    throw Error(fmt::format("required input {} ('{}') is missing", i, name));
  }
  return inputs[i];
}

Tensor optional_input(const std::vector<Tensor>& inputs, size_t i) {
  return i < inputs.size() ? inputs[i] : Tensor();
}

std::vector<int64_t> to_int64s(const Tensor& t, const char* what) {
  TAMP_CHECK(t.dtype() == DType::kInt64 || t.dtype() == DType::kInt32,
             "{} must be int64 or int32, got {}", what, describe(t));
  TAMP_CHECK(t.rank() <= 1, "{} must be a scalar or 1-D, got {}", what, describe(t));
  std::vector<int64_t> out(static_cast<size_t>(t.numel()));
  if (t.dtype() == DType::kInt64) std::copy_n(t.data<int64_t>(), t.numel(), out.begin());
  else std::copy_n(t.data<int32_t>(), t.numel(), out.begin());
  return out;
}

void expect_same_dtype(const Tensor& a, const Tensor& b, const char* what) {
  TAMP_CHECK(a.dtype() == b.dtype(), "{}: inputs {} and {} have different dtypes", what,
             describe(a), describe(b));
}

namespace {
template <class F>
Tensor float_binary(const Tensor& a, const Tensor& b, F f) {
  expect_same_dtype(a, b, "elementwise");
  return dispatch_float(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    return kernels::broadcast_binary<T, T>(a, b, a.dtype(), [&](T x, T y) { return f(x, y); });
  });
}
}  // namespace

Tensor mul(const Tensor& a, const Tensor& b) {
  return float_binary(a, b, [](auto x, auto y) { return x * y; });
}
Tensor div(const Tensor& a, const Tensor& b) {
  return float_binary(a, b, [](auto x, auto y) { return x / y; });
}
Tensor sub(const Tensor& a, const Tensor& b) {
  return float_binary(a, b, [](auto x, auto y) { return x - y; });
}
Tensor neg(const Tensor& a) {
  return dispatch_float(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    Tensor out = Tensor::empty(a.shape(), a.dtype());
    kernels::map_unary(a.data<T>(), out.data<T>(), a.numel(), [](T x) { return -x; });
    return out;
  });
}

}  // namespace tamp::ops
