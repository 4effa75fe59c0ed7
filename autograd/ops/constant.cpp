// Ops that make tensors from attributes and sizes: Constant, ConstantOfShape, Range.
// None is differentiable.
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

#include <cmath>
#include <cstring>

namespace tamp::ops {

namespace {

// The output shares the attribute's storage: a graph's large constants are not copied on
// every forward pass.
std::vector<Tensor> constant_forward(OpContext& ctx, const std::vector<Tensor>&) {
  const Attributes& a = ctx.attrs();
  TAMP_CHECK(a.values().size() == 1, "Constant needs exactly one value attribute, got {}",
             a.values().size());
  if (a.has("value")) return {a.t("value")};
  if (a.has("value_float")) return {Tensor::scalar(a.f("value_float"), DType::kFloat32)};
  if (a.has("value_int"))
    return {Tensor::scalar(static_cast<double>(a.i("value_int")), DType::kInt64)};
  if (a.has("value_floats")) {
    const auto& v = a.floats("value_floats");
    return {Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v)};
  }
  if (a.has("value_ints")) {
    const auto& v = a.ints("value_ints");
    return {Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v)};
  }
  if (a.has("sparse_value")) {
    throw Error("Constant with a sparse_value is not supported", ErrorKind::kUnsupported,
                "store the constant densely (value=) when exporting");
  }
  if (a.has("value_string") || a.has("value_strings")) {
    throw Error("string constants are not supported", ErrorKind::kUnsupported);
  }
  throw Error(fmt::format("Constant has the unknown attribute '{}'", a.values().begin()->first));
}

std::vector<Tensor> constant_of_shape_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const auto dims = to_int64s(input(in, 0, "input"), "shape");
  Tensor value =
      ctx.attrs().has("value") ? ctx.attrs().t("value") : Tensor::scalar(0, DType::kFloat32);
  TAMP_CHECK(value.numel() == 1, "value must hold one element, got {}", describe(value));
  check_output_size(dims, value.dtype(), "ConstantOfShape");
  Tensor out = Tensor::empty(dims, value.dtype());
  const size_t elem = size_of(value.dtype());
  char* dst = static_cast<char*>(out.raw_data());
  for (int64_t i = 0; i < out.numel(); ++i) std::memcpy(dst + i * elem, value.raw_data(), elem);
  return {out};
}

// ceil((limit - start) / delta), at least 0, checked to fit a tensor.
template <class T> int64_t range_count(T start, T limit, T delta) {
  TAMP_CHECK(delta != T(0), "delta is 0");
  double n;
  if constexpr (std::is_integral_v<T>) {
    const __int128 span = static_cast<__int128>(limit) - start;
    const __int128 d = delta;
    __int128 q = span / d;
    if (q * d != span && ((span > 0) == (d > 0))) ++q;  // round towards +inf
    n = static_cast<double>(q);
  } else {
    n = std::ceil((static_cast<double>(limit) - static_cast<double>(start)) /
                  static_cast<double>(delta));
    TAMP_CHECK(std::isfinite(n), "Range({}, {}, {}) has no finite length", start, limit, delta);
  }
  if (n <= 0) return 0;
  TAMP_CHECK(n < 9.0e18, "Range({}, {}, {}) has {} elements", start, limit, delta, n);
  return static_cast<int64_t>(n);
}

std::vector<Tensor> range_forward(OpContext&, const std::vector<Tensor>& in) {
  const Tensor& start = input(in, 0, "start");
  const Tensor& limit = input(in, 1, "limit");
  const Tensor& delta = input(in, 2, "delta");
  TAMP_CHECK(start.dtype() == limit.dtype() && start.dtype() == delta.dtype(),
             "start, limit and delta have different dtypes: {}, {}, {}", describe(start),
             describe(limit), describe(delta));
  TAMP_CHECK(start.numel() == 1 && limit.numel() == 1 && delta.numel() == 1,
             "start, limit and delta must be scalars: {}, {}, {}", describe(start), describe(limit),
             describe(delta));
  return {dispatch_numeric(start.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T s = start.data<T>()[0], d = delta.data<T>()[0];
    const int64_t n = range_count<T>(s, limit.data<T>()[0], d);
    check_output_size({n}, start.dtype(), "Range");
    Tensor out = Tensor::empty({n}, start.dtype());
    T* p = out.data<T>();
    // Accumulated, as the ONNX function body of Range (a Loop adding delta) defines it.
    T v = s;
    for (int64_t i = 0; i < n; ++i, v = static_cast<T>(v + d)) p[i] = v;
    return out;
  })};
}

}  // namespace

OpDef constant_of_shape_op() {
  return {"", "ConstantOfShape", 9, &constant_of_shape_forward, nullptr};
}
OpDef constant_op() { return {"", "Constant", 1, &constant_forward, nullptr}; }
OpDef range_op() { return {"", "Range", 11, &range_forward, nullptr}; }

}  // namespace tamp::ops
