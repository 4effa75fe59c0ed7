// Internal: tamp's own fp32 GEMM, the float path of kernels::gemm (same contract: row-major,
// C = alpha * op(A) * op(B) + beta * C, beta == 0 never reads C, m, n, k > 0). Runs the best
// instruction set of the CPU (simd_target.h); multi-threaded over OpenMP unless called inside
// a parallel region.
#pragma once

#include <cstdint>

namespace tamp::kernels {

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace tamp::kernels
