// Shapes are plain std::vector<int64_t>, row-major. Helpers that every kernel needs:
//
//   Shape out = broadcast_shapes({64, 1, 5}, {7, 1});   // [64, 7, 5]
//   broadcast_offset(5, {64, 7, 5}, {7, 1}) == 1       // element 5 of out reads own's 1
//   int axis = normalize_axis(-1, 4);                   // 3
//   to_string(out) == "[64, 7, 5]"
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tamp {

using Shape = std::vector<int64_t>;

std::string to_string(const Shape& shape);

// Product of the dims; throws when a dim is negative or the product overflows int64.
int64_t checked_numel(const Shape& shape);
// Product of the dims, unchecked (for shapes already validated).
int64_t numel(const Shape& shape);
// Product of dims in [begin, end).
int64_t numel(const Shape& shape, int begin, int end);

// Row-major strides in elements.
std::vector<int64_t> strides_of(const Shape& shape);

// Maps an ONNX axis in [-rank, rank) to [0, rank); throws naming `what` otherwise.
int normalize_axis(int64_t axis, int rank, const char* what = "axis");

// Numpy-style (ONNX multidirectional) broadcast; throws naming both shapes if incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b);

// Flat index, in an operand of shape `own` broadcast to `out`, of flat index `i` of `out`
// (own's dims are out's trailing dims, each equal or 1). Batched matmuls use it on the batch
// dims: broadcast_offset(i, {4, 3}, {3}) == i % 3, broadcast_offset(i, {4, 3}, {4, 1}) == i / 3.
int64_t broadcast_offset(int64_t i, const Shape& out, const Shape& own);

}  // namespace tamp
