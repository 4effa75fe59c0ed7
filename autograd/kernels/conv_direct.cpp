// Direct convolution, vectorised along output rows. Each image (per group) is first copied
// into a zero-padded buffer holding exactly the input window the outputs read, so the inner
// loops are pointer arithmetic and one row-end mask, with no bounds checks. Register blocks
// hold a few output channels times a few output rows (8 accumulators), so a depthwise layer
// (one output channel per group) still keeps enough independent FMA chains in flight.
// Compiled once per instruction set (simd_inl.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tamp/autograd/kernels/conv_direct.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>
#include <tamp/autograd/kernels/conv_direct.h>
#include <tamp/autograd/kernels/conv_dispatch.h>
#include <tamp/autograd/kernels/im2col_inl.h>
#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/kernels/simd_inl.h>

#include <omp.h>

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

HWY_BEFORE_NAMESPACE();
namespace tamp::kernels::HWY_NAMESPACE {

namespace {

// The 2-D view (a 1-D conv has h = oh = kh = 1). The padded buffer is (cin_g, hp, wp): padded
// row ip holds input row ip - pad_h. Reduction row r = (c, i, j) of output (o, ow) reads the
// padded element at r_off[r] + o * stride_h * wp + ow.
struct Geometry {
  int64_t h, w, oh, ow, sh, ph, pw, hp, wp;
  int64_t cin_g, cout_g, rows_g, in_size, out_size, padded_size;
  std::vector<int64_t> r_off;

  explicit Geometry(const ConvShape& s)
      : h(s.in[1]),
        w(s.in[2]),
        oh(s.out[1]),
        ow(s.out[2]),
        sh(s.stride[1]),
        ph(s.pad[1]),
        pw(s.pad[2]),
        hp((oh - 1) * sh + (s.kernel[1] - 1) * s.dilation[1] + 1),
        wp(ow + (s.kernel[2] - 1) * s.dilation[2]),
        cin_g(s.in_channels / s.groups),
        cout_g(s.out_channels / s.groups),
        rows_g(cin_g * s.kernel[1] * s.kernel[2]),
        in_size(h * w),
        out_size(oh * ow),
        padded_size(hp * wp) {
    for (int64_t c = 0; c < cin_g; ++c) {
      for (int64_t i = 0; i < s.kernel[1]; ++i) {
        for (int64_t j = 0; j < s.kernel[2]; ++j)
          r_off.push_back(c * padded_size + i * s.dilation[1] * wp + j * s.dilation[2]);
      }
    }
  }
};

// A per-thread buffer that only grows (OpenMP threads persist across calls), with a vector
// of zeroed slack past n: the forward kernel reads padded rows as whole vectors.
template <class T> T* scratch(int64_t n) {
  thread_local std::vector<T> buffer;
  const int64_t size = n + Simd<T>::kLanes;
  if (static_cast<int64_t>(buffer.size()) < size) buffer.resize(static_cast<size_t>(size));
  return buffer.data();
}

template <class T> void pad_image(const Geometry& g, const T* x, T* xp) {
  pad_window(x, g.cin_g, g.h, g.w, g.ph, g.pw, g.hp, g.wp, xp);
}

// dx (cin_g, h, w) = the part of dxp (cin_g, hp, wp) that lies on x; zero where no output reads.
template <class T> void crop_image(const Geometry& g, const T* dxp, T* dx) {
  for (int64_t c = 0; c < g.cin_g; ++c) {
    for (int64_t ih = 0; ih < g.h; ++ih) {
      T* dst = dx + c * g.in_size + ih * g.w;
      const int64_t ip = ih + g.ph;
      for (int64_t jw = 0; jw < g.w; ++jw) {
        const int64_t jp = jw + g.pw;
        dst[jw] = ip >= 0 && ip < g.hp && jp >= 0 && jp < g.wp
                      ? dxp[c * g.padded_size + ip * g.wp + jp]
                      : T(0);
      }
    }
  }
}

// y rows [oh0, oh0 + OB) of output channels [0, MB) (y points at channel 0 of the block),
// from the padded input xp and weights w (MB rows of rows_g).
template <class T, int MB, int OB>
void forward_block(const Geometry& g, const T* xp, const T* w, const T* bias, T* y, int64_t oh0) {
  using S = Simd<T>;
  const int64_t row_step = g.sh * g.wp;
  for (int64_t ow0 = 0; ow0 < g.ow; ow0 += S::kLanes) {
    const T* base = xp + oh0 * row_step + ow0;
    typename S::Vec acc[MB][OB];
#pragma GCC unroll 8
    for (int mb = 0; mb < MB; ++mb) {
      const auto b = S::set1(bias ? bias[mb] : T(0));
#pragma GCC unroll 8
      for (int ob = 0; ob < OB; ++ob) acc[mb][ob] = b;
    }
    for (int64_t r = 0; r < g.rows_g; ++r) {
      typename S::Vec xv[OB];
#pragma GCC unroll 8
      for (int ob = 0; ob < OB; ++ob) xv[ob] = S::load(base + g.r_off[r] + ob * row_step);
#pragma GCC unroll 8
      for (int mb = 0; mb < MB; ++mb) {
        const auto wv = S::set1(w[mb * g.rows_g + r]);
#pragma GCC unroll 8
        for (int ob = 0; ob < OB; ++ob) acc[mb][ob] = S::fma(wv, xv[ob], acc[mb][ob]);
      }
    }
#pragma GCC unroll 8
    for (int mb = 0; mb < MB; ++mb) {
#pragma GCC unroll 8
      for (int ob = 0; ob < OB; ++ob)
        S::store_first(y + (mb * g.oh + oh0 + ob) * g.ow + ow0, acc[mb][ob], g.ow - ow0);
    }
  }
}

template <class T> void forward_dispatch(int mb, int ob, const Geometry& g, const T* xp, const T* w,
                                         const T* bias, T* y, int64_t oh0) {
  if (mb == 8) return forward_block<T, 8, 1>(g, xp, w, bias, y, oh0);
  if (mb == 4)
    return ob == 2 ? forward_block<T, 4, 2>(g, xp, w, bias, y, oh0)
                   : forward_block<T, 4, 1>(g, xp, w, bias, y, oh0);
  if (mb == 2)
    return ob == 4 ? forward_block<T, 2, 4>(g, xp, w, bias, y, oh0)
                   : forward_block<T, 2, 1>(g, xp, w, bias, y, oh0);
  return ob == 8 ? forward_block<T, 1, 8>(g, xp, w, bias, y, oh0)
                 : forward_block<T, 1, 1>(g, xp, w, bias, y, oh0);
}

// Reduction rows whose accumulators stay in registers at once, for one output channel and
// for two (with 32 vector registers: 16 and 24 accumulators; with 16: 12 and 12).
constexpr int kRowBlock = kVectorRegisters >= 32 ? 16 : 12;
constexpr int kPairRowBlock = kVectorRegisters >= 32 ? 12 : 6;

// For each of MB output channels mb (dy rows out_size apart, dw rows rows_g apart):
// dw[rb] += sum over output positions of dy_m * xp at reduction row r0 + rb (one image), and
// db[mb] += sum of dy_m when db is non-null. RB and MB are template arguments so the
// accumulators are registers; two channels share each load of the input.
template <class T, int RB, int MB>
void weight_rows(const Geometry& g, const T* xp, const T* dy_m, int64_t r0, T* dw, T* db) {
  using S = Simd<T>;
  typename S::Vec acc[MB][RB], accb[MB];
  int64_t off[RB];
#pragma GCC unroll 16
  for (int rb = 0; rb < RB; ++rb) off[rb] = g.r_off[r0 + rb];
#pragma GCC unroll 2
  for (int mb = 0; mb < MB; ++mb) {
    accb[mb] = S::zero();
#pragma GCC unroll 16
    for (int rb = 0; rb < RB; ++rb) acc[mb][rb] = S::zero();
  }
  // One vector of output positions from ow0: whole vectors plain, the row's tail masked (the
  // lanes past the row read zero in both operands, so they add nothing).
  auto step = [&](const T* base, const T* dy_row, int64_t ow0, int64_t n) HWY_ATTR {
    typename S::Vec dyv[MB];
#pragma GCC unroll 2
    for (int mb = 0; mb < MB; ++mb) {
      dyv[mb] = S::load_first(dy_row + mb * g.out_size + ow0, n);
      if (db) accb[mb] = S::add(accb[mb], dyv[mb]);
    }
#pragma GCC unroll 16
    for (int rb = 0; rb < RB; ++rb) {
      const auto xv = S::load_first(base + off[rb] + ow0, n);
#pragma GCC unroll 2
      for (int mb = 0; mb < MB; ++mb) acc[mb][rb] = S::fma(dyv[mb], xv, acc[mb][rb]);
    }
  };
  const int64_t whole = g.ow / S::kLanes * S::kLanes;
  for (int64_t o = 0; o < g.oh; ++o) {
    const T* base = xp + o * g.sh * g.wp;
    const T* dy_row = dy_m + o * g.ow;
    for (int64_t ow0 = 0; ow0 < whole; ow0 += S::kLanes) step(base, dy_row, ow0, S::kLanes);
    if (whole < g.ow) step(base, dy_row, whole, g.ow - whole);
  }
#pragma GCC unroll 2
  for (int mb = 0; mb < MB; ++mb) {
#pragma GCC unroll 16
    for (int rb = 0; rb < RB; ++rb) dw[mb * g.rows_g + rb] += S::sum(acc[mb][rb]);
    if (db) db[mb] += S::sum(accb[mb]);
  }
}

// dxp (cin_g, hp, wp) += the transposed convolution of dy (cout_g, oh, ow) with w (cout_g,
// rows_g), for reduction rows [r0, r0 + RB).
template <class T, int RB>
void data_rows(const Geometry& g, const T* w, const T* dy, T* dxp, int64_t r0) {
  using S = Simd<T>;
  for (int64_t o = 0; o < g.oh; ++o) {
    T* base = dxp + o * g.sh * g.wp;
    for (int64_t ow0 = 0; ow0 < g.ow; ow0 += S::kLanes) {
      const int64_t n = g.ow - ow0;
      typename S::Vec acc[RB];
#pragma GCC unroll 16
      for (int rb = 0; rb < RB; ++rb) acc[rb] = S::zero();
      for (int64_t m = 0; m < g.cout_g; ++m) {
        const auto dyv = S::load_first(dy + (m * g.oh + o) * g.ow + ow0, n);
        const T* wm = w + m * g.rows_g + r0;
#pragma GCC unroll 16
        for (int rb = 0; rb < RB; ++rb) acc[rb] = S::fma(S::set1(wm[rb]), dyv, acc[rb]);
      }
#pragma GCC unroll 16
      for (int rb = 0; rb < RB; ++rb) {
        T* p = base + g.r_off[r0 + rb] + ow0;
        S::store_first(p, S::add(S::load_first(p, n), acc[rb]), n);
      }
    }
  }
}

// Tables of the RB = 1..kRowBlock instantiations, indexed by RB - 1.
template <class T, int MB, size_t... I> constexpr auto weight_table(std::index_sequence<I...>) {
  return std::array{&weight_rows<T, static_cast<int>(I) + 1, MB>...};
}
template <class T, size_t... I> constexpr auto data_table(std::index_sequence<I...>) {
  return std::array{&data_rows<T, static_cast<int>(I) + 1>...};
}

// Block sizes covering `rows` with at most kRowBlock each, as even as possible (9 -> 9,
// 20 -> 10 + 10) so that no block is left with a single, latency-bound accumulator.
std::vector<int64_t> row_blocks(int64_t rows) {
  const int64_t count = (rows + kRowBlock - 1) / kRowBlock;
  std::vector<int64_t> sizes;
  for (int64_t b = 0; b < count; ++b) sizes.push_back(rows * (b + 1) / count - rows * b / count);
  return sizes;
}

}  // namespace

template <class T>
void direct_forward(const ConvShape& s, const T* x, const T* w, const T* bias, T* y) {
  const Geometry g(s);
  if (g.rows_g ==
      0) {  // no input channel: every output is its bias (and x, the scratch, may be null)
    for (int64_t n = 0; n < s.batch; ++n) {
      for (int64_t c = 0; c < s.out_channels; ++c) {
        std::fill_n(y + (n * s.out_channels + c) * g.out_size, g.out_size, bias ? bias[c] : T(0));
      }
    }
    return;
  }
  parallel_for(s.batch * s.groups, 1, [&](int64_t begin, int64_t end) {
    T* xp = scratch<T>(g.cin_g * g.padded_size);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / s.groups, grp = item % s.groups;
      pad_image(g, x + (n * s.in_channels + grp * g.cin_g) * g.in_size, xp);
      T* yg = y + (n * s.out_channels + grp * g.cout_g) * g.out_size;
      for (int64_t m0 = 0; m0 < g.cout_g;) {
        const int64_t left = g.cout_g - m0;
        const int mb = left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
        const T* wm = w + (grp * g.cout_g + m0) * g.rows_g;
        const T* bm = bias ? bias + grp * g.cout_g + m0 : nullptr;
        for (int64_t oh0 = 0; oh0 < g.oh;) {
          const int ob = g.oh - oh0 >= 8 / mb ? 8 / mb : 1;
          forward_dispatch<T>(mb, ob, g, xp, wm, bm, yg + m0 * g.out_size, oh0);
          oh0 += ob;
        }
        m0 += mb;
      }
    }
  });
}

template <class T> void direct_backward(const ConvShape& s, const T* x, const T* w, const T* dy,
                                        T* dx, T* dw, T* dbias) {
  const Geometry g(s);
  const std::vector<int64_t> blocks = row_blocks(g.rows_g);
  static constexpr auto data_fns = data_table<T>(std::make_index_sequence<kRowBlock>{});
  static constexpr auto weight_fns = weight_table<T, 1>(std::make_index_sequence<kRowBlock>{});
  // Channel pairs while 2 x RB accumulators fit in the registers.
  static constexpr auto weight2_fns = weight_table<T, 2>(std::make_index_sequence<kPairRowBlock>{});
  const bool pairs = blocks.size() == 1 && blocks[0] <= kPairRowBlock;
  const int64_t x_stride = s.in_channels * g.in_size, dy_stride = s.out_channels * g.out_size;
  if (dx) {
    parallel_for(s.batch * s.groups, 1, [&](int64_t begin, int64_t end) {
      T* dxp = scratch<T>(g.cin_g * g.padded_size);
      for (int64_t item = begin; item < end; ++item) {
        const int64_t n = item / s.groups, grp = item % s.groups;
        std::fill(dxp, dxp + g.cin_g * g.padded_size, T(0));
        const T* dyg = dy + n * dy_stride + grp * g.cout_g * g.out_size;
        int64_t r0 = 0;
        for (int64_t rb : blocks) {
          data_fns[rb - 1](g, w + grp * g.cout_g * g.rows_g, dyg, dxp, r0);
          r0 += rb;
        }
        crop_image(g, dxp, dx + n * x_stride + grp * g.cin_g * g.in_size);
      }
    });
  }
  const int64_t dw_size = s.out_channels * g.rows_g;
  if (dw_size == 0) dw = nullptr;  // an empty W (a zero-length kernel dim): no dW to write
  if (!dw && !dbias) return;
  // Each thread sums its chunk of the batch into its own partial; chunk 0 writes the outputs.
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(threads, s.batch));
  std::vector<T> dw_part(dw ? static_cast<size_t>((chunks - 1) * dw_size) : 0, T(0));
  std::vector<T> db_part(dbias ? static_cast<size_t>((chunks - 1) * s.out_channels) : 0, T(0));
  if (dw) std::fill(dw, dw + dw_size, T(0));
  if (dbias) std::fill(dbias, dbias + s.out_channels, T(0));
  parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    T* xp = dw ? scratch<T>(g.cin_g * g.padded_size) : nullptr;
    for (int64_t chunk = c0; chunk < c1; ++chunk) {
      T* dwc = !dw ? nullptr : chunk == 0 ? dw : dw_part.data() + (chunk - 1) * dw_size;
      T* dbc = !dbias       ? nullptr
               : chunk == 0 ? dbias
                            : db_part.data() + (chunk - 1) * s.out_channels;
      for (int64_t n = s.batch * chunk / chunks; n < s.batch * (chunk + 1) / chunks; ++n) {
        for (int64_t grp = 0; grp < s.groups; ++grp) {
          if (dwc) pad_image(g, x + n * x_stride + grp * g.cin_g * g.in_size, xp);
          for (int64_t m = grp * g.cout_g; m < (grp + 1) * g.cout_g; ++m) {
            const T* dy_m = dy + n * dy_stride + m * g.out_size;
            if (dwc && pairs && m + 1 < (grp + 1) * g.cout_g) {
              weight2_fns[blocks[0] - 1](g, xp, dy_m, 0, dwc + m * g.rows_g,
                                         dbc ? dbc + m : nullptr);
              ++m;
              continue;
            }
            if (!dwc) {  // dB alone
              const T* end = dy_m + g.out_size;
              T acc = T(0);
#pragma omp simd reduction(+ : acc)
              for (const T* p = dy_m; p < end; ++p) acc += *p;
              dbc[m] += acc;
              continue;
            }
            int64_t r0 = 0;
            for (int64_t rb : blocks) {
              weight_fns[rb - 1](g, xp, dy_m, r0, dwc + m * g.rows_g + r0,
                                 r0 == 0 && dbc ? dbc + m : nullptr);
              r0 += rb;
            }
          }
        }
      }
    }
  });
  for (int64_t c = 1; c < chunks; ++c) {
    if (dw) {
      const T* part = dw_part.data() + (c - 1) * dw_size;
      for (int64_t i = 0; i < dw_size; ++i) dw[i] += part[i];
    }
    if (dbias) {
      const T* part = db_part.data() + (c - 1) * s.out_channels;
      for (int64_t m = 0; m < s.out_channels; ++m) dbias[m] += part[m];
    }
  }
}

TAMP_CONV_TARGET_ENTRIES(direct)

}  // namespace tamp::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tamp::kernels {

bool conv_direct_applies(const ConvShape& s) {
  const bool planar = s.in[0] == 1 && s.out[0] == 1 && s.kernel[0] == 1 && s.pad[0] == 0;
  return planar && s.stride[2] == 1 &&
         (s.in_channels / s.groups) * s.kernel_size() <= kDirectMaxRows;
}

TAMP_CONV_EXPORTS(direct, conv_direct);

}  // namespace tamp::kernels
#endif  // HWY_ONCE
