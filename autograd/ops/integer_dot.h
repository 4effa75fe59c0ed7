// Internal: the integer dot products of MatMulInteger and QLinearConv under
// IntegerArithmetic::kX86Int16Pairs (autograd/integer_arithmetic.h).
#pragma once

#include <algorithm>
#include <cstdint>

namespace tamp::ops {

// sum_k a[k] * b[k] of raw stored values as MLAS's AVX2 uint8 x int8 kernel adds them:
// vpmaddubsw multiplies neighbouring pairs (k = 2j, 2j + 1; an odd k pairs with the zero
// padding) and saturates each pair sum to int16, vpmaddwd then widens exactly.
inline int64_t x86_int16_pair_dot(const uint8_t* a, const int8_t* b, int64_t k) {
  int64_t sum = 0;
  for (int64_t i = 0; i < k; i += 2) {
    int32_t pair = int32_t{a[i]} * b[i];
    if (i + 1 < k) pair += int32_t{a[i + 1]} * b[i + 1];
    sum += std::clamp(pair, -32768, 32767);
  }
  return sum;
}

// The int32 result of the exact sum `v`: wrapped as int32 arithmetic does ("the accumulation
// may overflow if and only if in 32 bits").
inline int32_t wrap_int32(int64_t v) { return static_cast<int32_t>(static_cast<uint32_t>(v)); }

}  // namespace tamp::ops
