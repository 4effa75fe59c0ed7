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
  if (t.dtype() == DType::kInt64)
    std::copy_n(t.data<int64_t>(), t.numel(), out.begin());
  else
    std::copy_n(t.data<int32_t>(), t.numel(), out.begin());
  return out;
}

void expect_same_dtype(const Tensor& a, const Tensor& b, const char* what) {
  TAMP_CHECK(a.dtype() == b.dtype(), "{}: inputs {} and {} have different dtypes", what,
             describe(a), describe(b));
}

namespace {
template <class F> Tensor float_binary(const Tensor& a, const Tensor& b, F f) {
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

std::vector<int> normalize_axes(const std::vector<int64_t>& axes, int rank, const char* what) {
  std::vector<int> out;
  out.reserve(axes.size());
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t a : axes) {
    const int n = normalize_axis(a, rank, what);
    TAMP_CHECK(!seen[n], "{} name axis {} twice (rank {})", what, n, rank);
    seen[n] = true;
    out.push_back(n);
  }
  return out;
}

DType dtype_from_onnx(int64_t code) {
  switch (code) {
    case 1:
      return DType::kFloat32;
    case 2:
      return DType::kUInt8;
    case 3:
      return DType::kInt8;
    case 4:
      return DType::kUInt16;
    case 5:
      return DType::kInt16;
    case 6:
      return DType::kInt32;
    case 7:
      return DType::kInt64;
    case 9:
      return DType::kBool;
    case 10:
      return DType::kFloat16;
    case 11:
      return DType::kFloat64;
    case 12:
      return DType::kUInt32;
    case 13:
      return DType::kUInt64;
    case 16:
      return DType::kBFloat16;
    case 8:
      throw Error("string tensors are not supported", ErrorKind::kUnsupported);
    case 14:
    case 15:
      throw Error("complex tensors are not supported", ErrorKind::kUnsupported);
    default:
      throw Error(fmt::format("{} is not an ONNX tensor data type", code));
  }
}

void check_output_size(const Shape& shape, DType dtype, const char* what) {
  const int64_t n = checked_numel(shape);
  const int64_t elem = static_cast<int64_t>(size_of(dtype));
  if (n > kMaxOpOutputBytes / elem) {
    throw Error(
        fmt::format("{} would create {} {} ({} elements, more than the {} GiB tamp allows "
                    "for one tensor)",
                    what, dtype_name(dtype), to_string(shape), n, kMaxOpOutputBytes >> 30));
  }
}

}  // namespace tamp::ops
