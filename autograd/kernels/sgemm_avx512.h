// Internal: tamp's own fp32 GEMM for AVX-512 hosts, the float path of kernels::gemm (same
// contract: row-major, C = alpha * op(A) * op(B) + beta * C, beta == 0 never reads C, k > 0).
// A 12 x 32 register tile over packed panels (BLIS-style cache blocking); threads take
// disjoint slabs of C. Built only when the compiler targets AVX-512 (TAMP_NATIVE on such a
// host); otherwise Eigen's GEMM does the work.
#pragma once

#include <cstdint>

namespace tamp::kernels {

#if defined(__AVX512F__)
void sgemm_avx512(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                  int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
#endif

}  // namespace tamp::kernels
