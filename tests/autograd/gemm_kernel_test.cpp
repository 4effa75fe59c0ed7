// kernels::gemm (fp32: tamp's own kernel, on every instruction set this CPU runs) against a
// float64 triple loop: every transpose combination, shapes that end inside a register tile
// (12 x 32 with AVX-512, 6 x 16 with AVX2, 6 x 8 with SSE4) and inside a cache block, row
// strides wider than the matrix, alpha/beta (beta == 0 must not read C, which holds NaN),
// one and two threads; and Eigen's path (gemm_eigen) on the same products.
#include <tamp/autograd/kernels/gemm.h>
#include <tamp/autograd/random.h>
#include <tamp/autograd/threads.h>

#include "support/simd_targets.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace tamp::test {
namespace {

struct Case {
  int64_t m, n, k;
};

// Ends of the register tiles (12 x 32, 6 x 16, 6 x 8), of the 320-deep k block and of the
// row / 2048-column blocks; k below, at and past the 4 x 4 transposing pack.
const std::vector<Case> kCases = {{1, 1, 1},      {12, 32, 7},     {13, 33, 5},   {11, 31, 193},
                                  {25, 65, 384},  {193, 40, 200},  {64, 10, 256}, {5, 2049, 3},
                                  {200, 3, 1000}, {130, 130, 130}, {4, 700, 40},  {64, 32, 64},
                                  {6, 16, 2},     {7, 17, 321},    {5, 15, 6},    {19, 9, 641}};

using GemmFn = void (*)(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                        const float*, int64_t, float, float*, int64_t);

void check(GemmFn gemm, const Case& cs, bool ta, bool tb, float alpha, float beta, int threads) {
  SCOPED_TRACE(::testing::Message()
               << "m=" << cs.m << " n=" << cs.n << " k=" << cs.k << " ta=" << ta << " tb=" << tb
               << " alpha=" << alpha << " beta=" << beta << " threads=" << threads);
  set_num_threads(threads);
  Generator rng(cs.m * 131 + cs.n * 7 + cs.k);
  // Stored shapes with 3 extra columns so the row strides differ from the widths.
  const int64_t a_rows = ta ? cs.k : cs.m, a_cols = ta ? cs.m : cs.k, lda = a_cols + 3;
  const int64_t b_rows = tb ? cs.n : cs.k, b_cols = tb ? cs.k : cs.n, ldb = b_cols + 3;
  const int64_t ldc = cs.n + 3;
  std::vector<float> a(a_rows * lda), b(b_rows * ldb), c(cs.m * ldc);
  for (float& v : a) v = 2 * rng.uniform() - 1;
  for (float& v : b) v = 2 * rng.uniform() - 1;
  for (float& v : c)
    v = beta == 0 ? std::numeric_limits<float>::quiet_NaN() : 2 * rng.uniform() - 1;
  const std::vector<float> c0 = c;
  gemm(ta, tb, cs.m, cs.n, cs.k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
  for (int64_t i = 0; i < cs.m; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const float got = c[i * ldc + j];
      if (j >= cs.n) {  // padding past the row must be untouched
        ASSERT_TRUE(std::isnan(got) ? std::isnan(c0[i * ldc + j]) : got == c0[i * ldc + j])
            << i << "," << j;
        continue;
      }
      double dot = 0, mag = 0;
      for (int64_t p = 0; p < cs.k; ++p) {
        const double x = ta ? a[p * lda + i] : a[i * lda + p];
        const double y = tb ? b[j * ldb + p] : b[p * ldb + j];
        dot += x * y;
        mag += std::abs(x * y);
      }
      const double want = alpha * dot + (beta == 0 ? 0.0 : beta * c0[i * ldc + j]);
      ASSERT_NEAR(got, want, 1e-6 * (std::abs(alpha) * mag + std::abs(beta) + 1))
          << "C(" << i << "," << j << ")";
    }
  }
}

void every_layout_and_edge(GemmFn gemm) {
  for (const Case& cs : kCases) {
    for (int t = 0; t < 4; ++t) {
      check(gemm, cs, t & 1, t & 2, 1.0f, 0.0f, 1);
      if (testing::Test::HasFatalFailure()) return;
    }
  }
}

void alpha_beta_and_threads(GemmFn gemm) {
  for (const Case& cs : kCases) {
    check(gemm, cs, false, true, 0.5f, 1.0f, 2);
    check(gemm, cs, true, false, -2.0f, 0.25f, 2);
    check(gemm, cs, false, false, 1.0f, 0.0f, 2);
    if (testing::Test::HasFatalFailure()) return;
  }
}

class GemmKernel : public OnEverySimdTarget {
 protected:
  void TearDown() override {
    set_num_threads(threads_);
    OnEverySimdTarget::TearDown();
  }
  const int threads_ = num_threads();
};

TEST_P(GemmKernel, EqualsAFloat64ProductForEveryLayoutAndEdge) {
  every_layout_and_edge(kernels::gemm);
}
TEST_P(GemmKernel, AppliesAlphaAndBetaAndSplitsOverThreads) {
  alpha_beta_and_threads(kernels::gemm);
}
TAMP_ON_EVERY_SIMD_TARGET(GemmKernel);

TEST(GemmEigen, EqualsAFloat64ProductForEveryLayoutAndEdge) {
  const int threads = num_threads();
  every_layout_and_edge(kernels::gemm_eigen);
  alpha_beta_and_threads(kernels::gemm_eigen);
  set_num_threads(threads);
}

}  // namespace
}  // namespace tamp::test
