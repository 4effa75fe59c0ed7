// Internal: vectorised fp32 elementwise kernels of the activation ops, on the CPU's best
// instruction set (simd_inl.h). The ops' scalar definitions (ops/unary.cpp) stay the
// reference: fp64 runs them, and the tests compare these kernels with them.
//
//   kernels::unary_forward(kernels::Unary::kRelu, {}, x, y, n);            // y = max(x, 0)
//   kernels::unary_backward(kernels::Unary::kRelu, {}, y, dy, dx, n);      // dx = dy * (y > 0)
#pragma once

#include <cstdint>

namespace tamp::kernels {

enum class Unary {
  kRelu,         // backward from the output
  kLeakyRelu,    // alpha; backward from the input
  kSigmoid,      // backward from the output
  kTanh,         // backward from the output
  kExp,          // backward from the output
  kErf,          // backward from the input
  kHardSigmoid,  // alpha, beta; backward from the input
  kHardSwish,    // backward from the input
  kClip,         // min alpha, max beta (max wins when min > max); backward from the input
  kGelu,         // x * Phi(x); alpha = 1: the tanh approximation; backward from the input
};

struct UnaryParams {
  float alpha = 0, beta = 0;
};

// y[i] = f(x[i]) for i < n; in parallel when large. x and y may be the same buffer.
void unary_forward(Unary f, UnaryParams p, const float* x, float* y, int64_t n);

// dx[i] = dy[i] * f'(...) from `saved`, the op's input or output as listed above.
void unary_backward(Unary f, UnaryParams p, const float* saved, const float* dy, float* dx,
                    int64_t n);

}  // namespace tamp::kernels
