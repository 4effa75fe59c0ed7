// Kernel tests run on every instruction set this CPU has (AVX-512, AVX2, SSE4, scalar...):
// a suite derives from OnEverySimdTarget and is instantiated with TAMP_ON_EVERY_SIMD_TARGET.
//
//   class GemmOnTarget : public OnEverySimdTarget {};
//   TEST_P(GemmOnTarget, MatchesFloat64) { ... }        // runs once per target
//   TAMP_ON_EVERY_SIMD_TARGET(GemmOnTarget);
#pragma once

#include <tamp/autograd/simd_target.h>

#include <gtest/gtest.h>

#include <string>

namespace tamp::test {

class OnEverySimdTarget : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { set_simd_target(GetParam()); }
  void TearDown() override { set_simd_target(before_); }

 private:
  const std::string before_ = simd_target();
};

#define TAMP_ON_EVERY_SIMD_TARGET(Suite)                                                       \
  INSTANTIATE_TEST_SUITE_P(Simd, Suite, ::testing::ValuesIn(::tamp::simd_targets_available()), \
                           [](const auto& info) { return info.param; })

}  // namespace tamp::test
