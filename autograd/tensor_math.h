// Whole-tensor arithmetic the engine and optimizers share (f32 and f64).
//
//   Tensor g = sum_to(grad, {1, 64});   // undo broadcasting
//   add_(acc, g);                       // acc += g, in place
#pragma once

#include <tamp/autograd/tensor.h>

namespace tamp {

// Sums `t` over the dims that broadcasting expanded, so the result has `shape`.
Tensor sum_to(const Tensor& t, const Shape& shape);
// a += b (same shape and floating dtype).
void add_(Tensor& a, const Tensor& b);
// a + b as a new tensor (same shape).
Tensor add(const Tensor& a, const Tensor& b);
// True when every element is finite (floating dtypes; other dtypes are always finite).
bool all_finite(const Tensor& t);

}  // namespace tamp
