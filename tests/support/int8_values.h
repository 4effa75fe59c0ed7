// Random 8-bit test values for the integer kernels: half at the ends of the range (0 / 255,
// -128 / 127), where pairs of products leave int16, half uniform.
//
//   Generator rng(1);
//   const auto v = static_cast<uint8_t>(int8_test_value(rng, false));
#pragma once

#include <tamp/autograd/random.h>

#include <cstdint>

namespace tamp::test {

inline int32_t int8_test_value(Generator& rng, bool is_signed) {
  const int32_t lo = is_signed ? -128 : 0, hi = is_signed ? 127 : 255;
  switch (rng.below(4)) {
    case 0:
      return lo;
    case 1:
      return hi;
    default:
      return lo + static_cast<int32_t>(rng.below(256));
  }
}

}  // namespace tamp::test
