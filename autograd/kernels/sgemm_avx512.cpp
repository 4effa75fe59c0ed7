#include <tamp/autograd/kernels/sgemm_avx512.h>

#if defined(__AVX512F__)

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <memory>
#include <new>

namespace tamp::kernels {

namespace {

// Register tile: kMr rows of C by kNr columns (two 16-float vectors), 24 accumulators.
constexpr int64_t kMr = 12;
constexpr int64_t kNr = 32;
// Cache blocks: a kKc x kNr panel of B (40 KiB) stays in L1 while a kMc x kKc block of A
// (240 KiB) stays in L2; kKc x kNc of B (2.5 MiB) is the L3-resident block. kKc = 320 keeps
// the im2col GEMM of a 3x3 conv over 32 channels (K = 288) in one block; 256 and 384
// measured within noise of it on the transformer's shapes.
constexpr int64_t kKc = 320;
constexpr int64_t kMc = 192;
constexpr int64_t kNc = 2048;

// A stored matrix and whether the product reads it transposed.
struct Operand {
  const float* data;
  int64_t ld;
  bool trans;
};

struct FreeAligned {
  void operator()(float* p) const { std::free(p); }
};

// Packing buffers of this thread, grown on demand (OpenMP threads persist across calls).
float* scratch(int which, int64_t floats) {
  thread_local std::unique_ptr<float, FreeAligned> buffers[2];
  thread_local int64_t sizes[2] = {0, 0};
  if (sizes[which] < floats) {
    floats = (floats + 15) / 16 * 16;  // aligned_alloc wants a multiple of the alignment
    buffers[which].reset(static_cast<float*>(std::aligned_alloc(64, static_cast<size_t>(floats) * sizeof(float))));
    if (!buffers[which]) throw std::bad_alloc();
    sizes[which] = floats;
  }
  return buffers[which].get();
}

// The first n of 16 lanes.
__mmask16 first_lanes(int64_t n) {
  return static_cast<__mmask16>(n >= 16 ? 0xFFFF : n <= 0 ? 0 : (1u << n) - 1);
}

// A block of op(A) (rows [i0, i0+mc), columns [p0, p0+kc)) as panels of kMr rows stored
// k-major: panel[k * kMr + r]. Rows past mc are zero so the kernel never branches on them.
void pack_a(const Operand& a, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float* out) {
  for (int64_t i = 0; i < mc; i += kMr) {
    const int64_t rows = std::min(kMr, mc - i);
    float* panel = out + i * kc;
    if (a.trans) {  // op(A)(i, k) = A[k][i]: kMr contiguous floats per k, zero past `rows`
      const __mmask16 load = first_lanes(rows), store = first_lanes(kMr);
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = a.data + (p0 + k) * a.ld + i0 + i;
        _mm512_mask_storeu_ps(panel + k * kMr, store, _mm512_maskz_loadu_ps(load, src));
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

// rows[c] (c < 16) = 16 floats; out[k * out_ld + c] = rows[c][k] for k < 16 (k < kn stored).
void transpose16(__m512 r[16], float* out, int64_t out_ld, int64_t kn) {
  __m512 u[16];
  for (int q = 0; q < 4; ++q) {
    const __m512 lo01 = _mm512_unpacklo_ps(r[4 * q], r[4 * q + 1]), hi01 = _mm512_unpackhi_ps(r[4 * q], r[4 * q + 1]);
    const __m512 lo23 = _mm512_unpacklo_ps(r[4 * q + 2], r[4 * q + 3]), hi23 = _mm512_unpackhi_ps(r[4 * q + 2], r[4 * q + 3]);
    // u[4q + g], lane l: rows 4q..4q+3 of column 4l + g.
    u[4 * q] = _mm512_shuffle_ps(lo01, lo23, 0x44);
    u[4 * q + 1] = _mm512_shuffle_ps(lo01, lo23, 0xEE);
    u[4 * q + 2] = _mm512_shuffle_ps(hi01, hi23, 0x44);
    u[4 * q + 3] = _mm512_shuffle_ps(hi01, hi23, 0xEE);
  }
  __m512 col[16];
  for (int g = 0; g < 4; ++g) {
    const __m512 x0 = _mm512_shuffle_f32x4(u[g], u[4 + g], 0x88), x1 = _mm512_shuffle_f32x4(u[g], u[4 + g], 0xDD);
    const __m512 y0 = _mm512_shuffle_f32x4(u[8 + g], u[12 + g], 0x88), y1 = _mm512_shuffle_f32x4(u[8 + g], u[12 + g], 0xDD);
    col[g] = _mm512_shuffle_f32x4(x0, y0, 0x88);
    col[g + 8] = _mm512_shuffle_f32x4(x0, y0, 0xDD);
    col[g + 4] = _mm512_shuffle_f32x4(x1, y1, 0x88);
    col[g + 12] = _mm512_shuffle_f32x4(x1, y1, 0xDD);
  }
  for (int64_t k = 0; k < kn; ++k) _mm512_store_ps(out + k * out_ld, col[k]);
}

// A block of op(B) (rows [p0, p0+kc), columns [j0, j0+nc)) as panels of kNr columns stored
// k-major: panel[k * kNr + c], zero past nc.
void pack_b(const Operand& b, int64_t p0, int64_t kc, int64_t j0, int64_t nc, float* out) {
  for (int64_t j = 0; j < nc; j += kNr) {
    const int64_t cols = std::min(kNr, nc - j);
    float* panel = out + j * kc;
    if (!b.trans) {  // op(B)(k, j) = B[k][j]: kNr contiguous floats per k
      const __mmask16 m0 = first_lanes(cols), m1 = first_lanes(cols - 16);
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = b.data + (p0 + k) * b.ld + j0 + j;
        _mm512_store_ps(panel + k * kNr, _mm512_maskz_loadu_ps(m0, src));
        _mm512_store_ps(panel + k * kNr + 16, _mm512_maskz_loadu_ps(m1, src + 16));
      }
      continue;
    }
    // op(B)(k, j) = B[j][k]: 16 stored rows x 16 k at a time, transposed in registers.
    for (int64_t half = 0; half < kNr; half += 16) {
      const int64_t valid = std::min<int64_t>(16, cols - half);
      for (int64_t k = 0; k < kc; k += 16) {
        const int64_t kn = std::min<int64_t>(16, kc - k);
        const __mmask16 mk = first_lanes(kn);
        __m512 rows[16];
        for (int64_t c = 0; c < 16; ++c) {
          rows[c] = c < valid ? _mm512_maskz_loadu_ps(mk, b.data + (j0 + j + half + c) * b.ld + p0 + k) : _mm512_setzero_ps();
        }
        transpose16(rows, panel + k * kNr + half, kNr, kn);
      }
    }
  }
}

// C tile (rows x cols of it valid) = alpha * A * Bpanel + (accumulate ? C : beta * C), where
// A(r, k) is a[k * kMr + r] in a packed panel, or a[r * lda + k] read in place from a
// row-major op(A) (whole panels only: all kMr rows exist).
template <bool kPacked>
void micro_kernel(int64_t kc, const float* a, int64_t lda, const float* bp, float* c, int64_t ldc, int64_t rows,
                  int64_t cols, float alpha, float beta, bool accumulate) {
  __m512 acc[kMr][2];
  for (int64_t r = 0; r < kMr; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(bp + k * kNr);
    const __m512 b1 = _mm512_load_ps(bp + k * kNr + 16);
#pragma GCC unroll 12
    for (int64_t r = 0; r < kMr; ++r) {
      const __m512 av = _mm512_set1_ps(kPacked ? a[k * kMr + r] : a[r * lda + k]);
      acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
    }
  }
  const __mmask16 m0 = first_lanes(cols), m1 = first_lanes(cols - 16);
  const __m512 va = _mm512_set1_ps(alpha);
  const __m512 vb = _mm512_set1_ps(accumulate ? 1.0f : beta);
  const bool read_c = accumulate || beta != 0.0f;
  for (int64_t r = 0; r < rows; ++r) {
    float* row = c + r * ldc;
    __m512 v0 = _mm512_mul_ps(va, acc[r][0]);
    __m512 v1 = _mm512_mul_ps(va, acc[r][1]);
    if (read_c) {
      v0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, row), v0);
      v1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, row + 16), v1);
    }
    _mm512_mask_storeu_ps(row, m0, v0);
    _mm512_mask_storeu_ps(row + 16, m1, v1);
  }
}

// C[0:m, 0:n] of this part, serially, through the packed blocks.
void gemm_part(const Operand& a, const Operand& b, int64_t m, int64_t n, int64_t k, float alpha, float beta,
               float* c, int64_t ldc) {
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
          const Operand rest{a.trans ? a.data + i0 + in_place : a.data + (i0 + in_place) * a.ld, a.ld, a.trans};
          pack_a(rest, 0, mc - in_place, p0, kc, apack);
        }
        for (int64_t j = 0; j < nc; j += kNr) {
          const int64_t cols = std::min(kNr, nc - j);
          float* c_block = c + i0 * ldc + j0 + j;
          for (int64_t i = 0; i < in_place; i += kMr) {
            micro_kernel<false>(kc, a.data + (i0 + i) * a.ld + p0, a.ld, bpack + j * kc, c_block + i * ldc, ldc, kMr,
                                cols, alpha, beta, p0 > 0);
          }
          for (int64_t i = in_place; i < mc; i += kMr) {
            micro_kernel<true>(kc, apack + (i - in_place) * kc, 0, bpack + j * kc, c_block + i * ldc, ldc,
                               std::min(kMr, mc - i), cols, alpha, beta, p0 > 0);
          }
        }
      }
    }
  }
}

}  // namespace

void sgemm_avx512(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                  int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  const Operand ao{a, lda, trans_a}, bo{b, ldb, trans_b};
  // Threads split C into slabs along its longer side (in whole register tiles): each packs
  // its own blocks, no synchronisation. Small products stay on one thread.
  const int max_threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t m_tiles = (m + kMr - 1) / kMr, n_tiles = (n + kNr - 1) / kNr;
  const bool split_m = m_tiles >= n_tiles;
  const int64_t tiles = split_m ? m_tiles : n_tiles;
  const int64_t work = m * n * k;
  const int threads = static_cast<int>(std::min<int64_t>({max_threads, tiles, std::max<int64_t>(1, work / (1 << 18))}));
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

}  // namespace tamp::kernels

#endif  // __AVX512F__
