// FakeQuantize's fp32 kernel (kernels/fake_quant.h) on every instruction set this CPU runs,
// bit for bit against the scalar definition of kernels/quantize.h (ONNX QuantizeLinear: float
// division, round half to even, saturation), on halfway ties, values far outside the range,
// infinities and NaN, with lengths that end inside a vector, with and without the clip mask.
#include <tamp/autograd/kernels/fake_quant.h>
#include <tamp/autograd/kernels/quantize.h>
#include <tamp/autograd/random.h>

#include "support/simd_targets.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace tamp::test {
namespace {

// Values whose quotient by `scale` is often exactly k + 0.5 (scale a power of two), mixed with
// uniform ones, out-of-range ones and the special values.
std::vector<float> awkward_values(int64_t n, float scale, uint64_t seed) {
  Generator rng(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    switch (i % 6) {
      case 0:
        v[i] = (static_cast<float>(rng.below(600)) - 300.0f + 0.5f) * scale;
        break;  // ties
      case 1:
        v[i] = (rng.uniform() * 2 - 1) * 200 * scale;
        break;
      case 2:
        v[i] = (rng.uniform() * 2 - 1) * 1e6f;
        break;  // far outside
      default:
        v[i] = static_cast<float>(rng.normal()) * 40 * scale;
        break;
    }
  }
  const float specials[] = {std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(), -0.0f, 0.0f};
  for (int64_t i = 0; i < n && i < 5; ++i)
    v[static_cast<size_t>(3 + 7 * i) % v.size()] = specials[i];
  return v;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

class FakeQuantKernel : public OnEverySimdTarget {};

TEST_P(FakeQuantKernel, MatchesTheScalarDefinitionBitForBit) {
  const kernels::FakeQuantRun runs[] = {
      {.scale = 0.25f, .zero_point = 128, .qmin = 0, .qmax = 255},
      {.scale = 0.5f, .zero_point = 0, .qmin = -128, .qmax = 127},
      {.scale = 0.0173f, .zero_point = -3, .qmin = -64, .qmax = 63},
      {.scale = 1.0f, .zero_point = 7, .qmin = 0, .qmax = 15}};
  for (const kernels::FakeQuantRun& p : runs) {
    for (int64_t n : {0, 1, 5, 8, 15, 16, 17, 33, 257}) {
      SCOPED_TRACE("scale " + std::to_string(p.scale) + ", n " + std::to_string(n));
      const std::vector<float> x =
          awkward_values(std::max<int64_t>(n, 1), p.scale, static_cast<uint64_t>(n) + 11);
      std::vector<float> y(x.size(), -1.0f), y_no_mask(x.size(), -1.0f);
      std::vector<uint8_t> mask(x.size(), 7);
      kernels::fake_quantize_run(x.data(), y.data(), mask.data(), n, p);
      kernels::fake_quantize_run(x.data(), y_no_mask.data(), nullptr, n, p);
      for (int64_t i = 0; i < n; ++i) {
        const float q = std::nearbyint(x[i] / p.scale) + p.zero_point;
        const float want =
            (kernels::quantize_value(x[i], p.scale, p.zero_point, p.qmin, p.qmax) - p.zero_point) *
            p.scale;
        const bool want_inside = q >= p.qmin && q <= p.qmax;
        ASSERT_TRUE(std::isnan(want) ? std::isnan(y[i]) : same_bits(y[i], want))
            << "x " << x[i] << ": " << y[i] << " vs " << want;
        ASSERT_TRUE(std::isnan(want) ? std::isnan(y_no_mask[i]) : same_bits(y_no_mask[i], want))
            << "x " << x[i];
        ASSERT_EQ(mask[i], want_inside ? 1 : 0) << "x " << x[i];
      }
      // Nothing past n is written.
      for (size_t i = static_cast<size_t>(n); i < x.size(); ++i) {
        ASSERT_EQ(y[i], -1.0f);
        ASSERT_EQ(mask[i], 7);
      }
    }
  }
}

TAMP_ON_EVERY_SIMD_TARGET(FakeQuantKernel);

}  // namespace
}  // namespace tamp::test
