// Element types of a Tensor. f32 trains; f64 serves gradient checks; i64 holds shapes and
// indices; i8/u8/i32 hold quantized values; f16/bf16 are storage types for conversion.
//
//   Tensor t({2, 3}, DType::kFloat32);
//   size_of(t.dtype()) == 4;  dtype_name(t.dtype()) == "float32";
#pragma once

#include <tamp/autograd/error.h>

#include <cstdint>
#include <limits>
#include <string_view>
#include <type_traits>

namespace tamp {

enum class DType : uint8_t {
  kFloat32,
  kFloat64,
  kFloat16,
  kBFloat16,
  kInt8,
  kUInt8,
  kInt16,
  kUInt16,
  kInt32,
  kUInt32,
  kInt64,
  kUInt64,
  kBool,
};

size_t size_of(DType dtype);
std::string_view dtype_name(DType dtype);
bool is_floating(DType dtype);  // f32, f64, f16, bf16
bool is_integer(DType dtype);   // signed or unsigned integer (not bool)

// IEEE half and bfloat16 are stored as raw 16-bit patterns.
struct Half {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};
float half_to_float(Half h);
Half float_to_half(float f);  // round to nearest even
float bfloat16_to_float(BFloat16 b);
BFloat16 float_to_bfloat16(float f);  // round to nearest even

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::kFloat32; }
template <> constexpr DType dtype_of<double>() { return DType::kFloat64; }
template <> constexpr DType dtype_of<Half>() { return DType::kFloat16; }
template <> constexpr DType dtype_of<BFloat16>() { return DType::kBFloat16; }
template <> constexpr DType dtype_of<int8_t>() { return DType::kInt8; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::kUInt8; }
template <> constexpr DType dtype_of<int16_t>() { return DType::kInt16; }
template <> constexpr DType dtype_of<uint16_t>() { return DType::kUInt16; }
template <> constexpr DType dtype_of<int32_t>() { return DType::kInt32; }
template <> constexpr DType dtype_of<uint32_t>() { return DType::kUInt32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::kInt64; }
template <> constexpr DType dtype_of<uint64_t>() { return DType::kUInt64; }
template <> constexpr DType dtype_of<bool>() { return DType::kBool; }

// Calls f(T{}) with T the integer type of `dtype`, or otherwise() when it is not an integer.
template <class F, class G> decltype(auto) dispatch_integer_or(DType dtype, F&& f, G&& otherwise) {
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
      return otherwise();
  }
}

// Calls f(T{}) with T the C++ type of `dtype`, e.g.
//   dispatch(t.dtype(), [&](auto tag) { using T = decltype(tag); ... });
template <class F> decltype(auto) dispatch(DType dtype, F&& f) {
  return dispatch_integer_or(dtype, f, [&]() -> decltype(auto) {
    switch (dtype) {
      case DType::kFloat64:
        return f(double{});
      case DType::kFloat16:
        return f(Half{});
      case DType::kBFloat16:
        return f(BFloat16{});
      case DType::kBool:
        return f(bool{});
      default:
        return f(float{});
    }
  });
}

// Calls f(T{}) for float/double tensors; throws kUnsupported naming the dtype otherwise.
template <class F> decltype(auto) dispatch_float(DType dtype, F&& f) {
  if (dtype == DType::kFloat32) return f(float{});
  if (dtype == DType::kFloat64) return f(double{});
  throw Error(fmt::format("dtype {} is not supported (float32 and float64 are)", dtype_name(dtype)),
              ErrorKind::kUnsupported);
}

// As dispatch_float, plus every integer type.
template <class F> decltype(auto) dispatch_numeric(DType dtype, F&& f) {
  return dispatch_integer_or(dtype, f, [&]() -> decltype(auto) {
    if (dtype == DType::kFloat32) return f(float{});
    if (dtype == DType::kFloat64) return f(double{});
    throw Error(
        fmt::format("dtype {} is not supported (float32, float64 and the integer types are)",
                    dtype_name(dtype)),
        ErrorKind::kUnsupported);
  });
}

// Calls f(U{}) with U the unsigned integer as wide as one element of `dtype`: for code that
// only moves elements (pads, selects, gathers).
template <class F> decltype(auto) dispatch_by_size(DType dtype, F&& f) {
  switch (size_of(dtype)) {
    case 1:
      return f(uint8_t{});
    case 2:
      return f(uint16_t{});
    case 4:
      return f(uint32_t{});
    case 8:
      return f(uint64_t{});
    default:
      throw Error(fmt::format("dtype {} is not supported", dtype_name(dtype)),
                  ErrorKind::kUnsupported);
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

}  // namespace tamp
