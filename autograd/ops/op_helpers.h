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
