// Internal helpers shared by the op files.
#pragma once

#include <tamp/autograd/op.h>

#include <limits>
#include <type_traits>
#include <vector>

namespace tamp::ops {

// inputs[i], which must be present (not an omitted optional input).
const Tensor& input(const std::vector<Tensor>& inputs, size_t i, const char* name);
// inputs[i] if present, else an undefined Tensor.
Tensor optional_input(const std::vector<Tensor>& inputs, size_t i);

// Calls f(T{}) for float/double tensors; throws kUnsupported naming the dtype otherwise.
template <class F> decltype(auto) dispatch_float(DType dtype, F&& f) {
  if (dtype == DType::kFloat32) return f(float{});
  if (dtype == DType::kFloat64) return f(double{});
  throw Error(fmt::format("dtype {} is not supported (float32 and float64 are)", dtype_name(dtype)),
              ErrorKind::kUnsupported);
}

// As dispatch_float, plus every integer type.
template <class F> decltype(auto) dispatch_numeric(DType dtype, F&& f) {
  switch (dtype) {
    case DType::kInt8:
      return f(int8_t{});
    case DType::kUInt8:
      return f(uint8_t{});
    case DType::kInt16:
      return f(int16_t{});
    case DType::kUInt16:
      return f(uint16_t{});
    case DType::kInt32:
      return f(int32_t{});
    case DType::kUInt32:
      return f(uint32_t{});
    case DType::kInt64:
      return f(int64_t{});
    case DType::kUInt64:
      return f(uint64_t{});
    default:
      return dispatch_float(dtype, std::forward<F>(f));
  }
}

// A double result stored as T. Integers saturate and NaN becomes 0, as in Tensor::to: an
// out-of-range float-to-integer conversion is undefined behaviour in C++ (Pow(0, -1) on ints).
template <class T> T saturating_cast(double v) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (!(v == v)) return T{0};
    if (v <= static_cast<double>(std::numeric_limits<T>::lowest()))
      return std::numeric_limits<T>::lowest();
    if (v >= static_cast<double>(std::numeric_limits<T>::max()))
      return std::numeric_limits<T>::max();
  }
  return static_cast<T>(v);
}

// An int64/int32 tensor (shape, axes, indices) as a vector.
std::vector<int64_t> to_int64s(const Tensor& t, const char* what);

// Elementwise float arithmetic with broadcasting, for backward formulas.
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& a);

// Throws naming the op when two inputs have different dtypes.
void expect_same_dtype(const Tensor& a, const Tensor& b, const char* what);

// ONNX axes normalised to [0, rank), in the given order; throws naming `what` when one is
// out of range or repeated.
std::vector<int> normalize_axes(const std::vector<int64_t>& axes, int rank,
                                const char* what = "axes");

// The DType of an ONNX TensorProto.DataType code (Cast's `to`); throws kUnsupported for
// string and complex types.
DType dtype_from_onnx(int64_t code);

// Largest tensor an op creates from data-dependent sizes (ConstantOfShape, Range, Expand,
// Tile, Pad): a hostile model gets a clear error instead of an allocation that takes the
// machine down.
constexpr int64_t kMaxOpOutputBytes = int64_t{1} << 32;  // 4 GiB
// Checks `shape` (no negative dims, no int64 overflow) and its size against kMaxOpOutputBytes.
void check_output_size(const Shape& shape, DType dtype, const char* what);

}  // namespace tamp::ops
