// Parameter initialisers, PyTorch's defaults, drawing from a tamp::Generator (so a seeded
// generator gives the same model on every machine and thread count).
//
//   Tensor w = nn::init::kaiming_uniform({out, in}, /*fan_in=*/in, rng);   // a = sqrt(5)
//   Tensor b = nn::init::uniform({out}, -1 / std::sqrt(in), 1 / std::sqrt(in), rng);
#pragma once

#include <tamp/autograd/random.h>
#include <tamp/autograd/tensor.h>

namespace tamp::nn::init {

// U(lo, hi), float32, filled in row-major order.
Tensor uniform(const Shape& shape, double lo, double hi, Generator& rng);
// N(mean, std^2), float32.
Tensor normal(const Shape& shape, double mean, double std, Generator& rng);
// Kaiming-uniform with negative slope a (PyTorch's nn.Linear/Conv default a = sqrt(5)):
// U(-b, b), b = sqrt(6 / ((1 + a^2) fan_in)); with a = sqrt(5), b = 1 / sqrt(fan_in).
Tensor kaiming_uniform(const Shape& shape, int64_t fan_in, Generator& rng,
                       double a = 2.23606797749979);
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default bias of Linear and Conv.
Tensor fan_in_uniform(const Shape& shape, int64_t fan_in, Generator& rng);

}  // namespace tamp::nn::init
