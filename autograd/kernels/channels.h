// Internal: vectorised fp32 kernels over one channel of an (N, C, S) tensor, on the CPU's best
// instruction set: the statistics, normalisation and gradient sums of BatchNormalization.
// A channel is N runs of S contiguous floats, C * S floats apart; sums are taken in float
// lanes over at most about a thousand values at a time and in double beyond, so large
// batches keep accurate statistics.
//
//   const Strided ch{n, c * s, s};                       // channel k starts at x + k * s
//   double total = kernels::strided_sum(x + k * s, ch);
#pragma once

#include <cstdint>
#include <utility>

namespace tamp::kernels {

struct Strided {
  int64_t runs;    // N
  int64_t stride;  // floats from one run's start to the next
  int64_t len;     // floats per run (S)
};

// sum(x) and sum((x - mu)^2) over the channel.
double strided_sum(const float* x, const Strided& ch);
double strided_centered_squares(const float* x, const Strided& ch, float mu);

// y = x * a + b over the channel (y laid out as x).
void strided_affine(const float* x, float* y, const Strided& ch, float a, float b);

// {sum(g), sum(g * (x - mu))} over the channel, g laid out as x.
std::pair<double, double> strided_grad_sums(const float* g, const float* x, const Strided& ch,
                                            float mu);

// dx = alpha * g + beta * (x - mu) + gamma over the channel; g may be null (no alpha term).
void strided_affine_grad(const float* g, const float* x, float* dx, const Strided& ch, float mu,
                         float alpha, float beta, float gamma);

}  // namespace tamp::kernels
