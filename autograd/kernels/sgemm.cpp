// tamp's fp32 GEMM (the float path of kernels::gemm), compiled once per instruction set.
// BLIS-style: C is computed in register tiles of kMr rows x two vectors (12 x 32 with
// AVX-512's 32 registers, 6 x 16 with AVX2's 16), from a kKc x kNr panel of B packed to stay
// in L1 and a kMc x kKc block of A in L2; threads take disjoint slabs of C.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tamp/autograd/kernels/sgemm.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/aligned_allocator.h>
#include <hwy/highway.h>
#include <tamp/autograd/kernels/dispatch.h>
#include <tamp/autograd/kernels/sgemm.h>
#include <tamp/autograd/kernels/simd_inl.h>

#include <omp.h>

#include <algorithm>
#include <exception>
#include <new>

HWY_BEFORE_NAMESPACE();
namespace tamp::kernels::HWY_NAMESPACE {
namespace {

using S = Simd<float>;
constexpr int64_t kL = S::kLanes;
constexpr int64_t kNr = 2 * kL;                           // columns of a register tile
constexpr int64_t kMr = kVectorRegisters >= 32 ? 12 : 6;  // rows: 2 * kMr accumulators
// kKc x kNr of B stays in L1 (40 KiB with AVX-512, 20 KiB with AVX2); kMc x kKc of A (240
// KiB) in L2; kKc x kNc of B in L3. kKc = 320 keeps the im2col GEMM of a 3x3 conv over 32
// channels (K = 288) in one block.
constexpr int64_t kKc = 320;
constexpr int64_t kMc = kMr * (192 / kMr);
constexpr int64_t kNc = 2048;

struct Operand {
  const float* data;
  int64_t ld;
  bool trans;
};

// Packing buffers of this thread, grown on demand (OpenMP threads persist across calls).
float* scratch(int which, int64_t floats) {
  thread_local hwy::AlignedFreeUniquePtr<float[]> buffers[2];
  thread_local int64_t sizes[2] = {0, 0};
  if (sizes[which] < floats) {
    buffers[which] = hwy::AllocateAligned<float>(static_cast<size_t>(floats));
    if (!buffers[which]) throw std::bad_alloc();
    sizes[which] = floats;
  }
  return buffers[which].get();
}

// A block of op(A) (rows [i0, i0+mc), columns [p0, p0+kc)) as panels of kMr rows stored
// k-major: panel[k * kMr + r]. Rows past mc are zero so the kernel never branches on them.
void pack_a(const Operand& a, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float* out) {
  for (int64_t i = 0; i < mc; i += kMr) {
    const int64_t rows = std::min(kMr, mc - i);
    float* panel = out + i * kc;
    if (a.trans) {  // op(A)(i, k) = A[k][i]: `rows` contiguous floats per k
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = a.data + (p0 + k) * a.ld + i0 + i;
        float* dst = panel + k * kMr;
        // Element by element: a memmove call per k cost as much as the product (ResNet's
        // data gradients).
#pragma GCC unroll 12
        for (int64_t r = 0; r < kMr; ++r) dst[r] = r < rows ? src[r] : 0.0f;
      }
    } else {
      for (int64_t r = 0; r < kMr; ++r) {
        if (r < rows) {
          const float* src = a.data + (i0 + i + r) * a.ld + p0;
          for (int64_t k = 0; k < kc; ++k) panel[k * kMr + r] = src[k];
        } else {
          for (int64_t k = 0; k < kc; ++k) panel[k * kMr + r] = 0.0f;
        }
      }
    }
  }
}

#if HWY_TARGET != HWY_SCALAR
constexpr int64_t kTransposeBlock = 4;
// panel[k * kNr + c] = B[j + c][p0 + k] for 4 stored rows c and 4 k at once, transposed in
// 128-bit registers (every vector target has them).
void transpose4(const float* b, int64_t ld, float* panel) {
  const hn::Full128<float> d;
  const auto r0 = hn::LoadU(d, b), r1 = hn::LoadU(d, b + ld), r2 = hn::LoadU(d, b + 2 * ld),
             r3 = hn::LoadU(d, b + 3 * ld);
  const auto lo01 = hn::InterleaveLower(d, r0, r1), lo23 = hn::InterleaveLower(d, r2, r3);
  const auto hi01 = hn::InterleaveUpper(d, r0, r1), hi23 = hn::InterleaveUpper(d, r2, r3);
  hn::StoreU(hn::ConcatLowerLower(d, lo23, lo01), d, panel);
  hn::StoreU(hn::ConcatUpperUpper(d, lo23, lo01), d, panel + kNr);
  hn::StoreU(hn::ConcatLowerLower(d, hi23, hi01), d, panel + 2 * kNr);
  hn::StoreU(hn::ConcatUpperUpper(d, hi23, hi01), d, panel + 3 * kNr);
}
#else
constexpr int64_t kTransposeBlock = 1;  // one lane: element by element
void transpose4(const float*, int64_t, float*) {}
#endif

// A block of op(B) (rows [p0, p0+kc), columns [j0, j0+nc)) as panels of kNr columns stored
// k-major: panel[k * kNr + c], zero past nc.
void pack_b(const Operand& b, int64_t p0, int64_t kc, int64_t j0, int64_t nc, float* out) {
  for (int64_t j = 0; j < nc; j += kNr) {
    const int64_t cols = std::min(kNr, nc - j);
    float* panel = out + j * kc;
    if (!b.trans) {  // op(B)(k, j) = B[k][j]: kNr contiguous floats per k
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = b.data + (p0 + k) * b.ld + j0 + j;
        float* dst = panel + k * kNr;
        for (int64_t v = 0; v < kNr; v += kL)
          hn::Store(S::load_first(src + v, cols - v), S::D(), dst + v);
      }
      continue;
    }
    // op(B)(k, j) = B[j][k]: 4 x 4 blocks through registers, the ragged edges one by one.
    const float* src = b.data + (j0 + j) * b.ld + p0;
    const int64_t c4 = kTransposeBlock == 4 ? cols / 4 * 4 : 0,
                  k4 = kTransposeBlock == 4 ? kc / 4 * 4 : 0;
    for (int64_t c = 0; c < c4; c += 4) {
      for (int64_t k = 0; k < k4; k += 4) transpose4(src + c * b.ld + k, b.ld, panel + k * kNr + c);
    }
    for (int64_t c = 0; c < kNr; ++c) {
      const bool real = c < cols;
      for (int64_t k = c < c4 ? k4 : 0; k < kc; ++k)
        panel[k * kNr + c] = real ? src[c * b.ld + k] : 0.0f;
    }
  }
}

// C tile (rows x cols of it valid) = alpha * A * Bpanel + (accumulate ? C : beta * C), where
// A(r, k) is a[k * kMr + r] in a packed panel, or a[r * lda + k] read in place from a
// row-major op(A) (whole panels only: all kMr rows exist).
template <bool kPacked> void micro_kernel(int64_t kc, const float* HWY_RESTRICT a, int64_t lda,
                                          const float* HWY_RESTRICT bp, float* c, int64_t ldc,
                                          int64_t rows, int64_t cols, float alpha, float beta,
                                          bool accumulate) {
  const S::D d;
  S::Vec acc[kMr][2];
#pragma GCC unroll 12
  for (int64_t r = 0; r < kMr; ++r) acc[r][0] = acc[r][1] = S::zero();
  for (int64_t k = 0; k < kc; ++k) {
    const S::Vec b0 = hn::Load(d, bp + k * kNr);
    const S::Vec b1 = hn::Load(d, bp + k * kNr + kL);
#pragma GCC unroll 12
    for (int64_t r = 0; r < kMr; ++r) {
      const S::Vec av = S::set1(kPacked ? a[k * kMr + r] : a[r * lda + k]);
      acc[r][0] = S::fma(av, b0, acc[r][0]);
      acc[r][1] = S::fma(av, b1, acc[r][1]);
    }
  }
  const S::Vec va = S::set1(alpha);
  const S::Vec vb = S::set1(accumulate ? 1.0f : beta);
  const bool read_c = accumulate || beta != 0.0f;
  for (int64_t r = 0; r < rows; ++r) {
    float* row = c + r * ldc;
#pragma GCC unroll 2
    for (int64_t v = 0; v < 2; ++v) {
      const int64_t n = cols - v * kL;
      if (n <= 0) break;
      S::Vec out = S::mul(va, acc[r][v]);
      if (read_c) out = S::fma(vb, S::load_first(row + v * kL, n), out);
      S::store_first(row + v * kL, out, n);
    }
  }
}

// C[0:m, 0:n] of this part, serially, through the packed blocks.
void gemm_part(const Operand& a, const Operand& b, int64_t m, int64_t n, int64_t k, float alpha,
               float beta, float* c, int64_t ldc) {
  const int64_t nc_max = std::min(kNc, (n + kNr - 1) / kNr * kNr);
  const int64_t kc_max = std::min(kKc, k);
  float* bpack = scratch(0, nc_max * kc_max);
  float* apack = scratch(1, std::min(kMc, (m + kMr - 1) / kMr * kMr) * kc_max);
  for (int64_t j0 = 0; j0 < n; j0 += kNc) {
    const int64_t nc = std::min(kNc, n - j0);
    for (int64_t p0 = 0; p0 < k; p0 += kKc) {
      const int64_t kc = std::min(kKc, k - p0);
      pack_b(b, p0, kc, j0, nc, bpack);
      for (int64_t i0 = 0; i0 < m; i0 += kMc) {
        const int64_t mc = std::min(kMc, m - i0);
        // A row-major op(A) is read in place (packing it would cost as much as the product
        // when N is small); only its last, partial panel is packed (zero rows past the end).
        // A transposed one is packed, which makes its rows contiguous.
        const int64_t in_place = a.trans ? 0 : mc / kMr * kMr;
        if (in_place < mc) {
          const Operand rest{a.trans ? a.data + i0 + in_place : a.data + (i0 + in_place) * a.ld,
                             a.ld, a.trans};
          pack_a(rest, 0, mc - in_place, p0, kc, apack);
        }
        for (int64_t j = 0; j < nc; j += kNr) {
          const int64_t cols = std::min(kNr, nc - j);
          float* c_block = c + i0 * ldc + j0 + j;
          for (int64_t i = 0; i < in_place; i += kMr) {
            micro_kernel<false>(kc, a.data + (i0 + i) * a.ld + p0, a.ld, bpack + j * kc,
                                c_block + i * ldc, ldc, kMr, cols, alpha, beta, p0 > 0);
          }
          for (int64_t i = in_place; i < mc; i += kMr) {
            micro_kernel<true>(kc, apack + (i - in_place) * kc, 0, bpack + j * kc,
                               c_block + i * ldc, ldc, std::min(kMr, mc - i), cols, alpha, beta,
                               p0 > 0);
          }
        }
      }
    }
  }
}

}  // namespace

void sgemm_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
               int64_t ldc) {
  const Operand ao{a, lda, trans_a}, bo{b, ldb, trans_b};
  // Threads split C into slabs along its longer side (in whole register tiles): each packs
  // its own blocks, no synchronisation. Small products stay on one thread.
  const int max_threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t m_tiles = (m + kMr - 1) / kMr, n_tiles = (n + kNr - 1) / kNr;
  const bool split_m = m_tiles >= n_tiles;
  const int64_t tiles = split_m ? m_tiles : n_tiles;
  const int64_t work = m * n * k;
  const int threads = static_cast<int>(
      std::min<int64_t>({max_threads, tiles, std::max<int64_t>(1, work / (1 << 18))}));
  if (threads <= 1) {
    gemm_part(ao, bo, m, n, k, alpha, beta, c, ldc);
    return;
  }
  std::exception_ptr failure;  // an exception may not leave an OpenMP region
#pragma omp parallel num_threads(threads)
  {
    const int64_t t = omp_get_thread_num();
    const int64_t first = tiles * t / threads, last = tiles * (t + 1) / threads;
    try {
      if (split_m) {
        const int64_t i0 = first * kMr, i1 = std::min(m, last * kMr);
        const Operand part{trans_a ? a + i0 : a + i0 * lda, lda, trans_a};
        if (i0 < i1) gemm_part(part, bo, i1 - i0, n, k, alpha, beta, c + i0 * ldc, ldc);
      } else {
        const int64_t j0 = first * kNr, j1 = std::min(n, last * kNr);
        const Operand part{trans_b ? b + j0 * ldb : b + j0, ldb, trans_b};
        if (j0 < j1) gemm_part(ao, part, m, j1 - j0, k, alpha, beta, c + j0, ldc);
      }
    } catch (...) {
#pragma omp critical(tamp_sgemm_failure)
      failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

}  // namespace tamp::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tamp::kernels {

HWY_EXPORT(sgemm_f32);

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  TAMP_DISPATCH(sgemm_f32)(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace tamp::kernels
#endif
