#include <tamp/autograd/kernels/gemm.h>

#include <tamp/autograd/kernels/sgemm.h>

#include <Eigen/Core>

namespace tamp::kernels {

namespace {

template <class T> using RowMajor =
    Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T> using ConstMap =
    Eigen::Map<const RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T> using MutMap = Eigen::Map<RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

template <class T, class A, class B>
void finish(MutMap<T>& c, const A& a, const B& b, T alpha, T beta) {
  if (beta == T(0)) {
    if (alpha == T(1))
      c.noalias() = a * b;
    else
      c.noalias() = alpha * (a * b);
  } else {
    if (beta != T(1)) c *= beta;
    if (alpha == T(1))
      c.noalias() += a * b;
    else
      c.noalias() += alpha * (a * b);
  }
}

template <class T> void gemm_impl(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha,
                                  const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c,
                                  int64_t ldc) {
  if (m == 0 || n == 0) return;
  MutMap<T> cm(c, m, n, Eigen::OuterStride<>(ldc));
  if (k == 0) {
    if (beta == T(0))
      cm.setZero();
    else
      cm *= beta;
    return;
  }
  // A stored as (ta ? K x M : M x K), B as (tb ? N x K : K x N).
  ConstMap<T> am(a, ta ? k : m, ta ? m : k, Eigen::OuterStride<>(lda));
  ConstMap<T> bm(b, tb ? n : k, tb ? k : n, Eigen::OuterStride<>(ldb));
  if (!ta && !tb)
    finish<T>(cm, am, bm, alpha, beta);
  else if (ta && !tb)
    finish<T>(cm, am.transpose(), bm, alpha, beta);
  else if (!ta && tb)
    finish<T>(cm, am, bm.transpose(), alpha, beta);
  else
    finish<T>(cm, am.transpose(), bm.transpose(), alpha, beta);
}

}  // namespace

void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m > 0 && n > 0 && k > 0) {
    sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  gemm_impl<float>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm_eigen(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm_impl<float>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
          int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  gemm_impl<double>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace tamp::kernels
