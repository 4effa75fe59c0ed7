// kernels::int8_gemm on every instruction set this CPU runs, against a naive int64 reference:
// every signedness of A and B, zero points absent / per tensor / per row and column, odd M, N
// and K, K past a vector, a register tile and a 512-deep k block, rows past a 192-row block,
// strided operands, one and two threads; values at the ends of the 8-bit ranges (0, 255,
// -128, 127) whose pair sums leave int16. The saturated-pairs mode against ONNX Runtime's
// vpmaddubsw arithmetic written out (pairs of raw products clamped to int16).
#include <tamp/autograd/error.h>
#include <tamp/autograd/kernels/int8_gemm.h>
#include <tamp/autograd/random.h>
#include <tamp/autograd/threads.h>

#include "support/int8_values.h"
#include "support/simd_targets.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace tamp::test {
namespace {

struct Case {
  int64_t m, n, k;
};

// Tile ends (6 x 16 with AVX2, 12 x 32 with AVX-512, 6 x 8 with SSE4, 6 x 2 scalar), k block
// ends (512 pairs' worth of k), the 192-row block.
const std::vector<Case> kCases = {{1, 1, 1},     {1, 1, 2},    {3, 5, 7},    {6, 16, 32},
                                  {7, 17, 33},   {13, 33, 63}, {12, 32, 64}, {5, 40, 511},
                                  {2, 9, 512},   {4, 3, 513},  {3, 7, 1025}, {200, 19, 9},
                                  {25, 65, 288}, {1, 100, 17}, {64, 1, 40}};

enum class ZeroPoints { kNone, kPerTensor, kPerVector };

struct Operand {
  std::vector<uint8_t> bytes;  // int8 stored as its bits
  int64_t ld;
  bool is_signed;
  std::vector<int32_t> zero_points;
  int32_t at(int64_t r, int64_t c) const {
    const uint8_t v = bytes[r * ld + c];
    return is_signed ? int32_t{static_cast<int8_t>(v)} : int32_t{v};
  }
  int32_t zero_point(int64_t i) const {
    return zero_points.empty() ? 0 : zero_points[zero_points.size() == 1 ? 0 : i];
  }
  kernels::Int8Matrix matrix() const {
    return {bytes.data(), ld, is_signed, zero_points.empty() ? nullptr : zero_points.data(),
            zero_points.size() > 1};
  }
};

Operand random_operand(Generator& rng, int64_t rows, int64_t cols, int64_t pad, bool is_signed,
                       ZeroPoints zp, int64_t vectors) {
  Operand o{{}, cols + pad, is_signed, {}};
  o.bytes.resize(static_cast<size_t>(rows * o.ld));
  for (uint8_t& b : o.bytes) b = static_cast<uint8_t>(int8_test_value(rng, is_signed));
  const int64_t count = zp == ZeroPoints::kNone ? 0 : zp == ZeroPoints::kPerTensor ? 1 : vectors;
  for (int64_t i = 0; i < count; ++i) o.zero_points.push_back(int8_test_value(rng, is_signed));
  return o;
}

int32_t wrap(int64_t v) { return static_cast<int32_t>(static_cast<uint32_t>(v)); }

// C(i, j) in int64: exact, or as vpmaddubsw + vpmaddwd sum (raw pairs along k clamped to
// int16, an odd k's last product alone), the zero points expanded exactly.
int32_t reference(const Operand& a, const Operand& b, int64_t i, int64_t j, int64_t k,
                  bool saturate_pairs) {
  const int64_t za = a.zero_point(i), zb = b.zero_point(j);
  if (!saturate_pairs) {
    int64_t sum = 0;
    for (int64_t p = 0; p < k; ++p) sum += (a.at(i, p) - za) * (b.at(p, j) - zb);
    return wrap(sum);
  }
  int64_t raw = 0, row_sum = 0, col_sum = 0;
  for (int64_t p = 0; p < k; p += 2) {
    int64_t pair = int64_t{a.at(i, p)} * b.at(p, j);
    if (p + 1 < k) pair += int64_t{a.at(i, p + 1)} * b.at(p + 1, j);
    raw += std::clamp<int64_t>(pair, -32768, 32767);
  }
  for (int64_t p = 0; p < k; ++p) {
    row_sum += a.at(i, p);
    col_sum += b.at(p, j);
  }
  return wrap(raw - zb * row_sum - za * col_sum + k * za * zb);
}

class Int8GemmKernel : public OnEverySimdTarget {
 protected:
  void TearDown() override {
    set_num_threads(threads_);
    OnEverySimdTarget::TearDown();
  }

  // Returns how many entries differ from the exact product (for the saturated mode).
  int64_t check(const Case& cs, bool a_signed, bool b_signed, ZeroPoints zp, bool saturate_pairs,
                int threads) {
    SCOPED_TRACE(::testing::Message()
                 << "m=" << cs.m << " n=" << cs.n << " k=" << cs.k << " A "
                 << (a_signed ? "s8" : "u8") << " B " << (b_signed ? "s8" : "u8") << " zero points "
                 << static_cast<int>(zp) << " saturate_pairs=" << saturate_pairs
                 << " threads=" << threads);
    set_num_threads(threads);
    Generator rng(cs.m * 1009 + cs.n * 31 + cs.k * 7 + a_signed * 2 + b_signed);
    const Operand a = random_operand(rng, cs.m, cs.k, 3, a_signed, zp, cs.m);
    const Operand b = random_operand(rng, cs.k, cs.n, 5, b_signed, zp, cs.n);
    const int64_t ldc = cs.n + 2;
    const int32_t sentinel = 0x5a5a5a5a;
    std::vector<int32_t> c(static_cast<size_t>(cs.m * ldc), sentinel);
    kernels::int8_gemm(a.matrix(), b.matrix(), cs.m, cs.n, cs.k, saturate_pairs, c.data(), ldc);
    int64_t differs_from_exact = 0;
    for (int64_t i = 0; i < cs.m; ++i) {
      for (int64_t j = 0; j < ldc; ++j) {
        const int32_t got = c[i * ldc + j];
        if (j >= cs.n) {
          EXPECT_EQ(got, sentinel) << "C(" << i << "," << j << ") past the row was written";
          continue;
        }
        const int32_t want = reference(a, b, i, j, cs.k, saturate_pairs);
        if (got != want) {
          ADD_FAILURE() << "C(" << i << "," << j << ") = " << got << ", want " << want;
          return differs_from_exact;
        }
        differs_from_exact += saturate_pairs && want != reference(a, b, i, j, cs.k, false);
      }
    }
    return differs_from_exact;
  }

  const int threads_ = num_threads();
};

TEST_P(Int8GemmKernel, ExactForEverySignednessZeroPointAndEdge) {
  for (const Case& cs : kCases) {
    for (int s = 0; s < 4; ++s) {
      for (ZeroPoints zp : {ZeroPoints::kNone, ZeroPoints::kPerTensor, ZeroPoints::kPerVector}) {
        check(cs, s & 1, s & 2, zp, false, 1);
        if (HasFailure()) return;
      }
    }
  }
}

TEST_P(Int8GemmKernel, SplitsRowsOverTwoThreads) {
  for (const Case& cs : {Case{200, 19, 9}, Case{37, 70, 600}, Case{64, 48, 288}}) {
    check(cs, false, true, ZeroPoints::kPerVector, false, 2);
    check(cs, false, true, ZeroPoints::kPerTensor, true, 2);
    if (HasFailure()) return;
  }
}

TEST_P(Int8GemmKernel, SaturatedPairsAreOnnxRuntimesAvx2Sums) {
  int64_t saturated = 0;
  for (const Case& cs : kCases) {
    for (ZeroPoints zp : {ZeroPoints::kNone, ZeroPoints::kPerTensor, ZeroPoints::kPerVector}) {
      saturated += check(cs, false, true, zp, true, 1);  // uint8 activations x int8 weights
      saturated += check(cs, true, false, zp, true, 1);  // the operands the other way round
      if (HasFailure()) return;
    }
  }
  EXPECT_GT(saturated, 0) << "no pair saturated: the cases do not test the saturation";
}

TEST(Int8GemmKernelContract, RefusesSaturatedPairsOfTwoUint8Operands) {
  const uint8_t a[2] = {255, 255}, b[2] = {255, 255};
  int32_t c = 0;
  EXPECT_THROW(kernels::int8_gemm({a, 2, false}, {b, 1, false}, 1, 1, 2, true, &c, 1), Error);
}

TAMP_ON_EVERY_SIMD_TARGET(Int8GemmKernel);

}  // namespace
}  // namespace tamp::test
