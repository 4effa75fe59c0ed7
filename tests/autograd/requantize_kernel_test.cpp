// kernels::requantize on every instruction set this CPU runs, against ONNX Runtime's formula
// written out with std::nearbyint: ties (x.5 products) to even, products a hair under a tie
// (0.49999997), saturation at both ends and for an infinite product, int32 sums that wrap with
// the bias, int8 and uint8 outputs, multipliers per channel along a plane (inner > 1) and along
// the lanes (inner 1), lengths that end inside a vector.
#include <tamp/autograd/kernels/requantize.h>
#include <tamp/autograd/random.h>

#include "support/simd_targets.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace tamp::test {
namespace {

int32_t expected(int32_t acc, int32_t bias, float multiplier, int32_t zero_point, bool is_signed) {
  const auto sum = static_cast<int32_t>(static_cast<uint32_t>(acc) + static_cast<uint32_t>(bias));
  const float v =
      std::nearbyint(static_cast<float>(sum) * multiplier) + static_cast<float>(zero_point);
  const float lo = is_signed ? -128.0f : 0.0f, hi = is_signed ? 127.0f : 255.0f;
  return static_cast<int32_t>(v < lo ? lo : (v > hi ? hi : v));
}

class RequantizeKernel : public OnEverySimdTarget {};

TEST_P(RequantizeKernel, IsOnnxRuntimesFormulaForEveryLayoutAndEdge) {
  Generator rng(5);
  struct Layout {
    int64_t outer, channels, inner;
    bool per_channel, with_bias;
  };
  for (const Layout l : {Layout{2, 3, 37, true, true}, Layout{3, 19, 1, true, true},
                         Layout{1, 5, 1, false, false}, Layout{2, 1, 8, false, true},
                         Layout{4, 2, 3, true, false}, Layout{1, 33, 1, false, true}}) {
    for (bool is_signed : {false, true}) {
      SCOPED_TRACE(::testing::Message()
                   << "outer " << l.outer << " channels " << l.channels << " inner " << l.inner
                   << (is_signed ? " int8" : " uint8"));
      const int64_t n = l.outer * l.channels * l.inner;
      std::vector<int32_t> acc(n), bias(l.channels);
      std::vector<float> multipliers(l.per_channel ? l.channels : 1);
      for (int32_t& b : bias) b = static_cast<int32_t>(rng.below(2001)) - 1000;
      for (float& m : multipliers) m = 0.5f;  // sums of odd integers land on ties
      if (l.per_channel) multipliers.back() = 1e-3f * (1 + rng.uniform());
      for (int64_t i = 0; i < n; ++i) {
        switch (i % 6) {
          case 0:
            acc[i] = static_cast<int32_t>(rng.below(1001)) - 500;
            break;
          case 1:
            acc[i] = std::numeric_limits<int32_t>::max() - 3;
            break;  // wraps with a positive bias
          case 2:
            acc[i] = -static_cast<int32_t>(rng.below(100000));
            break;
          case 3:
            acc[i] = 2 * static_cast<int32_t>(rng.below(200)) + 1;
            break;
          default:
            acc[i] = static_cast<int32_t>(rng.below(1 << 20)) - (1 << 19);
        }
      }
      const int32_t zp = is_signed ? -3 : 128;
      std::vector<uint8_t> y(n);
      kernels::requantize(
          acc.data(), l.outer, l.channels, l.inner,
          {l.with_bias ? bias.data() : nullptr, multipliers.data(), l.per_channel, zp, is_signed},
          y.data());
      for (int64_t i = 0; i < n; ++i) {
        const int64_t c = i / l.inner % l.channels;
        const int32_t want = expected(acc[i], l.with_bias ? bias[c] : 0,
                                      multipliers[l.per_channel ? c : 0], zp, is_signed);
        const int32_t got = is_signed ? int32_t{static_cast<int8_t>(y[i])} : int32_t{y[i]};
        ASSERT_EQ(got, want) << "element " << i << ", acc " << acc[i];
      }
    }
  }
}

// A product 2^-25 under a tie rounds down; a huge multiplier saturates (the product is inf).
TEST_P(RequantizeKernel, RoundsJustBelowHalfDownAndSaturatesInfinity) {
  const std::vector<int32_t> acc = {1, -1, 3, 1, -1, 7, 0, 2};
  const float below_half = std::nextafter(0.5f, 0.0f);
  for (const auto& [multiplier, want] :
       {std::pair{below_half, std::vector<int32_t>{10, 10, 11, 10, 10, 13, 10, 11}},
        std::pair{3e38f, std::vector<int32_t>{127, -128, 127, 127, -128, 127, 10, 127}}}) {
    std::vector<uint8_t> y(acc.size());
    kernels::requantize(acc.data(), 1, 1, static_cast<int64_t>(acc.size()),
                        {nullptr, &multiplier, false, 10, true}, y.data());
    for (size_t i = 0; i < acc.size(); ++i) {
      EXPECT_EQ(static_cast<int8_t>(y[i]), want[i])
          << "multiplier " << multiplier << ", acc " << acc[i];
      EXPECT_EQ(want[i], expected(acc[i], 0, multiplier, 10, true))
          << "the expected values disagree with the formula";
    }
  }
}

TAMP_ON_EVERY_SIMD_TARGET(RequantizeKernel);

}  // namespace
}  // namespace tamp::test
