// Internal: reductions over any set of axes, for the Reduce* ops and backward formulas.
//
//   Tensor s = reduce(x, {1}, ReduceKind::kSum);        // (64, 64, 128) -> (64, 1, 128)
//   Tensor m = reduce(x, {0, 2}, ReduceKind::kMax);     // (64, 64, 128) -> (1, 64, 1)
#pragma once

#include <tamp/autograd/tensor.h>

#include <vector>

namespace tamp::kernels {

enum class ReduceKind { kSum, kProd, kMax, kMin };

// Reduces `x` over `axes` (normalised, any order) with the reduced dims kept as 1. An empty
// reduction gives the identity (0, 1, lowest, highest). Every numeric dtype; float32 sums
// accumulate in float32 along vectorised lanes.
Tensor reduce(const Tensor& x, const std::vector<int>& axes, ReduceKind kind);

// The shape `x` has after reducing `axes`: reduced dims become 1, or vanish without keepdims.
Shape reduced_shape(const Shape& shape, const std::vector<int>& axes, bool keepdims);

}  // namespace tamp::kernels
