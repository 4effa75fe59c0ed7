// Internal: row-major GEMM on raw buffers, C = alpha * op(A) * op(B) + beta * C, where op(A)
// is M x K and op(B) is K x N; lda/ldb/ldc are row strides of the stored matrices.
// fp32 runs tamp's own kernel (sgemm.h) on the CPU's best instruction set; fp64 runs Eigen's
// (gradient checks). Multi-threaded over OpenMP unless called inside a parallel region.
#pragma once

#include <cstdint>

namespace tamp::kernels {

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
// The Eigen path of the fp32 GEMM whatever the build: the reference of tests and gemm_bench.
void gemm_eigen(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                int64_t ldc);
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
          const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
          int64_t ldc);

}  // namespace tamp::kernels
