// tamp's integer GEMM (int8_gemm.h), compiled once per instruction set. Both operands are
// widened to int16 and packed in pairs along k: a 32-bit lane of a packed B panel holds
// (B[2p][j], B[2p+1][j]), a packed row of A holds (A[i][2p], A[i][2p+1]) per 32-bit word, so
// one broadcast of A's pair times a panel vector is one vpmaddwd (ReorderWidenMulAccumulate):
// kL columns, two k, into int32. Register tiles of kMr rows x two vectors (12 x 32 columns with
// AVX-512, 6 x 16 with AVX2), B packed once per call (a panel's block of kKc k, 16 KiB with
// AVX2, stays in L1), A packed per thread in blocks of kMc rows; threads take disjoint rows of C.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tamp/autograd/kernels/int8_gemm.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>
#include <tamp/autograd/error.h>
#include <tamp/autograd/kernels/dispatch.h>
#include <tamp/autograd/kernels/int8_gemm.h>
#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/kernels/scratch.h>
#include <tamp/autograd/kernels/simd_inl.h>

#include <algorithm>
#include <cstring>
#include <vector>

HWY_BEFORE_NAMESPACE();
namespace tamp::kernels::HWY_NAMESPACE {
namespace {

using S = Simd<int32_t>;
using D16 = hn::Repartition<int16_t, S::D>;
constexpr int64_t kL = S::kLanes;
constexpr int64_t kNr = 2 * kL;  // columns of a register tile
// Rows: 2 * kMr accumulators, plus as many again on NEON, whose widening multiply-add keeps
// the upper half of the products in a second sum (ReorderWidenMulAccumulate's sum1).
constexpr int64_t kMr = HWY_ARCH_X86 && kVectorRegisters >= 32 ? 12 : 6;
constexpr int64_t kKc = 512;  // k per block (even, so that blocks keep the pairs of the whole K)
constexpr int64_t kMc = kMr * (192 / kMr);

int32_t wrapped(int64_t v) { return static_cast<int32_t>(static_cast<uint32_t>(v)); }

// One pair of int16 in a 32-bit word, the even k in the low half (a little-endian int16 lane
// pair, as the vector loads see it).
inline int32_t pair_of(int32_t even, int32_t odd) {
  return static_cast<int32_t>((static_cast<uint32_t>(even) & 0xFFFFu) |
                              (static_cast<uint32_t>(odd) << 16));
}

template <class T8> const T8* row_of(const Int8Matrix& x, int64_t r) {
  return static_cast<const T8*>(x.data) + r * x.ld;
}

// Lanes [0, n) of p widened to int32, zero past n; nothing past p + n is read.
template <class T8> S::Vec load_widened(const T8* p, int64_t n) {
  const hn::Rebind<T8, S::D> d8;
  if (n >= kL) return hn::PromoteTo(S::D(), hn::LoadU(d8, p));
  T8 buf[kL] = {};
  std::memcpy(buf, p, static_cast<size_t>(std::max<int64_t>(n, 0)) * sizeof(T8));
  return hn::PromoteTo(S::D(), hn::LoadU(d8, buf));
}

// All of B (k, n) as panels of kNr columns, each (pairs, kNr) with pairs = ceil(k / 2): word
// [p * kNr + c] of panel j is pair_of(B[2p][j * kNr + c], B[2p + 1][j * kNr + c]), zero past
// k and n. With col_sums (n rounded up to whole panels), also the sums of B's columns.
template <class T8>
void pack_b(const Int8Matrix& b, int64_t k, int64_t n, int32_t* out, int32_t* col_sums) {
  const int64_t pairs = (k + 1) / 2;
  const S::Vec low = S::set1(0xFFFF);
  for (int64_t j = 0; j < n; j += kNr) {
    int32_t* panel = out + j / kNr * pairs * kNr;
    S::Vec sums[2] = {S::zero(), S::zero()};
    for (int64_t p = 0; p < pairs; ++p) {
      const T8* even = row_of<T8>(b, 2 * p) + j;
      const T8* odd = 2 * p + 1 < k ? row_of<T8>(b, 2 * p + 1) + j : nullptr;
#pragma GCC unroll 2
      for (int64_t v = 0; v < 2; ++v) {
        const int64_t cols = n - j - v * kL;
        const S::Vec lo = load_widened(even + v * kL, cols);
        const S::Vec hi = odd ? load_widened(odd + v * kL, cols) : S::zero();
        hn::Store(hn::Or(hn::And(lo, low), hn::ShiftLeft<16>(hi)), S::D(),
                  panel + p * kNr + v * kL);
        sums[v] = hn::Add(sums[v], hn::Add(lo, hi));
      }
    }
    if (col_sums) {
      hn::StoreU(sums[0], S::D(), col_sums + j);
      hn::StoreU(sums[1], S::D(), col_sums + j + kL);
    }
  }
}

// Rows [r0, r0 + rows) and columns [p0, p0 + kc) of A as pairs, one row of `pairs` words after
// another, zero rows up to a whole number of register tiles.
template <class T8>
void pack_a(const Int8Matrix& a, int64_t r0, int64_t rows, int64_t p0, int64_t kc, int32_t* out) {
  const int64_t pairs = (kc + 1) / 2, padded = (rows + kMr - 1) / kMr * kMr;
  for (int64_t r = 0; r < padded; ++r) {
    int32_t* dst = out + r * pairs;
    if (r >= rows) {
      std::fill(dst, dst + pairs, 0);
      continue;
    }
    const T8* src = row_of<T8>(a, r0 + r) + p0;
    for (int64_t p = 0; p < kc / 2; ++p) dst[p] = pair_of(src[2 * p], src[2 * p + 1]);
    if (kc % 2) dst[pairs - 1] = pair_of(src[kc - 1], 0);
  }
}

// The zero points, applied after the raw sums: C = raw - za[i] * colterm[j] - rowsum[i] * zb[j]
// with colterm[j] = colsum[j] - k * zb[j] (all wrapping like int32): the expansion of
// sum_k (A - za)(B - zb). Column vectors are padded to whole panels.
struct ZeroPointTerms {
  bool a_shifted = false, b_shifted = false;           // some zero point of A / B is not 0
  bool any() const { return a_shifted || b_shifted; }  // (else none of the rest is set)
  std::vector<int32_t> za, rowsum;                     // (m)
  std::vector<int32_t> zb, colterm;  // (panels * kNr); colterm holds colsum until finish()
};

int32_t zero_point_of(const Int8Matrix& x, int64_t i) {
  return x.zero_points ? x.zero_points[x.zero_point_per_vector ? i : 0] : 0;
}

// Reads the zero points and A's row sums (when B has a zero point); B's column sums (needed
// when A has one) come from pack_b into colterm, then finish() turns them into the terms.
template <class TA> void start_zero_point_terms(const Int8Matrix& a, const Int8Matrix& b, int64_t m,
                                                int64_t n, int64_t k, ZeroPointTerms& t) {
  for (int64_t i = 0; i < m && !t.a_shifted; ++i) t.a_shifted = zero_point_of(a, i) != 0;
  for (int64_t j = 0; j < n && !t.b_shifted; ++j) t.b_shifted = zero_point_of(b, j) != 0;
  if (!t.any()) return;
  const int64_t padded = (n + kNr - 1) / kNr * kNr;
  t.za.assign(m, 0);
  t.rowsum.assign(m, 0);
  t.zb.assign(padded, 0);
  t.colterm.assign(padded, 0);
  for (int64_t i = 0; i < m; ++i) {
    t.za[i] = zero_point_of(a, i);
    if (!t.b_shifted) continue;
    const TA* row = row_of<TA>(a, i);
    int64_t sum = 0;
    for (int64_t p = 0; p < k; ++p) sum += row[p];
    t.rowsum[i] = wrapped(sum);
  }
  for (int64_t j = 0; j < n; ++j) t.zb[j] = zero_point_of(b, j);
}

void finish_zero_point_terms(int64_t n, int64_t k, ZeroPointTerms& t) {
  for (int64_t j = 0; j < n; ++j)
    t.colterm[j] = wrapped(int64_t{t.colterm[j]} - k * int64_t{t.zb[j]});
}

#if HWY_TARGET != HWY_SCALAR
// Per 32-bit lane: the sum of its two int16 products, saturated to int16 (vpmaddubsw).
S::Vec saturated_pair_sums(hn::Vec<D16> products) {
  const S::Vec words = hn::BitCast(S::D(), products);
  const S::Vec sum =
      hn::Add(hn::ShiftRight<16>(hn::ShiftLeft<16>(words)), hn::ShiftRight<16>(words));
  return hn::Min(hn::Max(sum, S::set1(-32768)), S::set1(32767));
}

// acc[r][v] = the raw sums of a tile over `pairs` pairs: A's row r at a + r * lda, B's panel at bp.
template <bool kSaturate> void tile_sums(int64_t pairs, const int32_t* HWY_RESTRICT a, int64_t lda,
                                         const int32_t* HWY_RESTRICT bp, S::Vec (&acc)[kMr][2]) {
  const D16 d16;
  S::Vec acc1[kMr][2];  // NEON's second sums (unused on x86, where the compiler drops them)
#pragma GCC unroll 12
  for (int64_t r = 0; r < kMr; ++r) acc[r][0] = acc[r][1] = acc1[r][0] = acc1[r][1] = S::zero();
  for (int64_t p = 0; p < pairs; ++p) {
    const auto b0 = hn::BitCast(d16, hn::Load(S::D(), bp + p * kNr));
    const auto b1 = hn::BitCast(d16, hn::Load(S::D(), bp + p * kNr + kL));
#pragma GCC unroll 12
    for (int64_t r = 0; r < kMr; ++r) {
      const auto av = hn::BitCast(d16, S::set1(a[r * lda + p]));
      if constexpr (kSaturate) {
        acc[r][0] = hn::Add(acc[r][0], saturated_pair_sums(hn::Mul(av, b0)));
        acc[r][1] = hn::Add(acc[r][1], saturated_pair_sums(hn::Mul(av, b1)));
      } else {
        acc[r][0] = hn::ReorderWidenMulAccumulate(S::D(), av, b0, acc[r][0], acc1[r][0]);
        acc[r][1] = hn::ReorderWidenMulAccumulate(S::D(), av, b1, acc[r][1], acc1[r][1]);
      }
    }
  }
  if constexpr (!kSaturate) {
#pragma GCC unroll 12
    for (int64_t r = 0; r < kMr; ++r) {
      acc[r][0] = hn::RearrangeToOddPlusEven(acc[r][0], acc1[r][0]);
      acc[r][1] = hn::RearrangeToOddPlusEven(acc[r][1], acc1[r][1]);
    }
  }
}
#else
// One lane: the pairs of a word multiplied out in scalar code (a vector of int16 there holds
// one value, not a pair).
template <bool kSaturate> void tile_sums(int64_t pairs, const int32_t* HWY_RESTRICT a, int64_t lda,
                                         const int32_t* HWY_RESTRICT bp, S::Vec (&acc)[kMr][2]) {
  uint32_t sums[kMr][kNr] = {};  // unsigned: wraps like int32 arithmetic
  for (int64_t p = 0; p < pairs; ++p) {
    for (int64_t r = 0; r < kMr; ++r) {
      const int32_t aw = a[r * lda + p];
      for (int64_t c = 0; c < kNr; ++c) {
        const int32_t bw = bp[p * kNr + c];
        int32_t s = int32_t{static_cast<int16_t>(aw)} * static_cast<int16_t>(bw) +
                    int32_t{static_cast<int16_t>(aw >> 16)} * static_cast<int16_t>(bw >> 16);
        if constexpr (kSaturate) s = std::clamp(s, -32768, 32767);
        sums[r][c] += static_cast<uint32_t>(s);
      }
    }
  }
  for (int64_t r = 0; r < kMr; ++r) {
    for (int64_t v = 0; v < 2; ++v) acc[r][v] = S::set1(static_cast<int32_t>(sums[r][v]));
  }
}
#endif

// The C tile (rows x cols valid) at c = its sums (+ C when accumulating), zero points applied
// when `terms` is given (the last k block): rows from row0, columns from col0 of C.
template <bool kSaturate>
void micro_kernel(int64_t pairs, const int32_t* a, int64_t lda, const int32_t* bp, int32_t* c,
                  int64_t ldc, int64_t rows, int64_t cols, bool accumulate,
                  const ZeroPointTerms* terms, int64_t row0, int64_t col0) {
  S::Vec acc[kMr][2];
  tile_sums<kSaturate>(pairs, a, lda, bp, acc);
  for (int64_t r = 0; r < rows; ++r) {
    int32_t* row = c + r * ldc;
#pragma GCC unroll 2
    for (int64_t v = 0; v < 2; ++v) {
      const int64_t n = cols - v * kL;
      if (n <= 0) break;
      S::Vec out = acc[r][v];
      if (accumulate) out = hn::Add(out, S::load_first(row + v * kL, n));
      if (terms) {
        const int64_t j = col0 + v * kL;
        out = hn::Sub(out, hn::Mul(S::set1(terms->za[row0 + r]),
                                   hn::LoadU(S::D(), terms->colterm.data() + j)));
        out = hn::Sub(out, hn::Mul(S::set1(terms->rowsum[row0 + r]),
                                   hn::LoadU(S::D(), terms->zb.data() + j)));
      }
      S::store_first(row + v * kL, out, n);
    }
  }
}

template <class TA, bool kSaturate>
void gemm_rows(const Int8Matrix& a, const int32_t* bpack, int64_t i_begin, int64_t i_end, int64_t n,
               int64_t k, const ZeroPointTerms* terms, int32_t* c, int64_t ldc) {
  const int64_t all_pairs = (k + 1) / 2;
  int32_t* apack = thread_scratch<int32_t, 1>((std::min(kMc, i_end - i_begin) + kMr) *
                                              ((std::min(kKc, k) + 1) / 2));
  for (int64_t p0 = 0; p0 < k; p0 += kKc) {
    const int64_t kc = std::min(kKc, k - p0), pairs = (kc + 1) / 2;
    const bool last = p0 + kc == k;
    for (int64_t i0 = i_begin; i0 < i_end; i0 += kMc) {
      const int64_t mc = std::min(kMc, i_end - i0);
      pack_a<TA>(a, i0, mc, p0, kc, apack);
      for (int64_t j = 0; j < n; j += kNr) {
        const int32_t* bp = bpack + j / kNr * all_pairs * kNr + p0 / 2 * kNr;
        for (int64_t i = 0; i < mc; i += kMr) {
          micro_kernel<kSaturate>(pairs, apack + i * pairs, pairs, bp, c + (i0 + i) * ldc + j, ldc,
                                  std::min(kMr, mc - i), std::min(kNr, n - j), p0 > 0,
                                  last ? terms : nullptr, i0 + i, j);
        }
      }
    }
  }
}

template <class TA, class TB, bool kSaturate>
void gemm_typed(const Int8Matrix& a, const Int8Matrix& b, int64_t m, int64_t n, int64_t k,
                int32_t* c, int64_t ldc) {
  int32_t* bpack = thread_scratch<int32_t, 0>((n + kNr - 1) / kNr * kNr * ((k + 1) / 2));
  ZeroPointTerms terms;
  start_zero_point_terms<TA>(a, b, m, n, k, terms);
  pack_b<TB>(b, k, n, bpack, terms.a_shifted ? terms.colterm.data() : nullptr);
  if (terms.any()) finish_zero_point_terms(n, k, terms);
  // Whole register tiles per thread, and enough work per thread to pay for waking it.
  const int64_t tiles = (m + kMr - 1) / kMr;
  const int64_t grain =
      std::max<int64_t>(1, (int64_t{1} << 18) / std::max<int64_t>(1, kMr * n * k));
  parallel_for(tiles, grain, [&](int64_t t0, int64_t t1) {
    gemm_rows<TA, kSaturate>(a, bpack, t0 * kMr, std::min(m, t1 * kMr), n, k,
                             terms.any() ? &terms : nullptr, c, ldc);
  });
}

template <bool kSaturate> void gemm_signedness(const Int8Matrix& a, const Int8Matrix& b, int64_t m,
                                               int64_t n, int64_t k, int32_t* c, int64_t ldc) {
  if (a.is_signed && b.is_signed)
    return gemm_typed<int8_t, int8_t, kSaturate>(a, b, m, n, k, c, ldc);
  if (a.is_signed) return gemm_typed<int8_t, uint8_t, kSaturate>(a, b, m, n, k, c, ldc);
  if (b.is_signed) return gemm_typed<uint8_t, int8_t, kSaturate>(a, b, m, n, k, c, ldc);
  gemm_typed<uint8_t, uint8_t, kSaturate>(a, b, m, n, k, c, ldc);
}

}  // namespace

void int8_gemm_i32(const Int8Matrix& a, const Int8Matrix& b, int64_t m, int64_t n, int64_t k,
                   bool saturate_pairs, int32_t* c, int64_t ldc) {
  if (saturate_pairs) {
    gemm_signedness<true>(a, b, m, n, k, c, ldc);
  } else {
    gemm_signedness<false>(a, b, m, n, k, c, ldc);
  }
}

}  // namespace tamp::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tamp::kernels {

HWY_EXPORT(int8_gemm_i32);

void int8_gemm(const Int8Matrix& a, const Int8Matrix& b, int64_t m, int64_t n, int64_t k,
               bool saturate_pairs, int32_t* c, int64_t ldc) {
  TAMP_CHECK(m > 0 && n > 0 && k > 0, "int8_gemm: empty product ({} x {} x {})", m, k, n);
  TAMP_CHECK(!saturate_pairs || a.is_signed != b.is_signed,
             "int8_gemm: saturated int16 pairs need one uint8 and one int8 operand");
  TAMP_DISPATCH(int8_gemm_i32)(a, b, m, n, k, saturate_pairs, c, ldc);
}

}  // namespace tamp::kernels
#endif
