// Implicit-GEMM convolution (see conv_implicit.h for the flat-window trick). One register-
// blocked micro-kernel (up to 6 rows x 4 vectors of accumulators) serves all three passes:
//   forward  Y'  (M, positions)  = W      (M, C*k)        x window(X)
//   weights  dW' (C*k, M)       += window(X) rows          x dY^T (positions, M), over the
//            real positions only (the A operand is indexed, so dropped columns cost nothing)
//   data     window(dX)         += W^T    (C*k, M)         x dY' (M, positions), each
//            row added at its reduction row's window offset (col2im fused into the stores)
// Each thread takes whole images; dW is summed in per-thread partials. Compiled once per
// instruction set (simd_inl.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tamp/autograd/kernels/conv_implicit.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>
#include <tamp/autograd/kernels/conv_dispatch.h>
#include <tamp/autograd/kernels/conv_implicit.h>
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

// Accumulators: 6 rows x 4 vectors = 24 of 32 registers (AVX-512, NEON); 4 x 3 = 12 of 16
// (AVX2, SSE4), leaving room for the three B vectors and the broadcast A value.
constexpr int kTileRows = kVectorRegisters >= 32 ? 6 : 4;
constexpr int kTileVecs = kVectorRegisters >= 32 ? 4 : 3;

template <class T> T* scratch(int slot, int64_t n) {
  thread_local std::vector<T> buffers[4];
  auto& b = buffers[slot];
  if (static_cast<int64_t>(b.size()) < n) b.resize(static_cast<size_t>(n));
  return b.data();
}

// c[i][j0 + j] (+)= sum over r < depth of a[i][aidx[r]] * b[boff[r] + j], for i < MR, j < n.
// B rows are read as whole vectors past n (every B buffer has a vector of slack); C only
// within n.
template <class T, int MR, int NV> void tile(int64_t depth, const T* const* a, const int64_t* aidx,
                                             const T* b, const int64_t* boff, int64_t n,
                                             T* const* c, int64_t j0, bool accumulate) {
  using S = Simd<T>;
  constexpr int kL = S::kLanes;
  typename S::Vec acc[MR][NV];
  const T* ap[MR];
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) {
    ap[i] = a[i];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = S::zero();
  }
  for (int64_t r = 0; r < depth; ++r) {
    const T* br = b + boff[r];
    typename S::Vec bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = S::load(br + v * kL);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const auto av = S::set1(ap[i][aidx[r]]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = S::fma(av, bv[v], acc[i][v]);
    }
  }
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const int64_t left = n - v * kL;
      T* p = c[i] + j0 + v * kL;
      S::store_first(p, accumulate ? S::add(acc[i][v], S::load_first(p, left)) : acc[i][v], left);
    }
  }
}

template <class T> using TileFn = void (*)(int64_t, const T* const*, const int64_t*, const T*,
                                           const int64_t*, int64_t, T* const*, int64_t, bool);

template <class T, int MR, size_t... V>
constexpr std::array<TileFn<T>, kTileVecs> tile_row(std::index_sequence<V...>) {
  return {&tile<T, MR, static_cast<int>(V) + 1>...};
}
template <class T, size_t... R>
constexpr std::array<std::array<TileFn<T>, kTileVecs>, kTileRows> tile_table(
    std::index_sequence<R...>) {
  return {tile_row<T, static_cast<int>(R) + 1>(std::make_index_sequence<kTileVecs>{})...};
}

// C (rows, cols) (+)= A B, where A[i][r] = a[i][aidx[r]], row r of B starts at b + boff[r]
// and row i of C at c[i]. Rows of C may overlap (a fused col2im): tiles run in order, each
// adding into memory.
template <class T> void implicit_gemm(int64_t rows, int64_t cols, int64_t depth, const T* const* a,
                                      const int64_t* aidx, const T* b, const int64_t* boff,
                                      T* const* c, bool accumulate) {
  static constexpr auto table = tile_table<T>(std::make_index_sequence<kTileRows>{});
  constexpr int64_t kL = Simd<T>::kLanes;
  // Column tiles as even as possible (143 columns: 3 x 3 vectors, not 4 + 4 + 1).
  const int64_t vecs = (cols + kL - 1) / kL, tiles = (vecs + kTileVecs - 1) / kTileVecs;
  for (int64_t i0 = 0; i0 < rows; i0 += kTileRows) {
    const int64_t mr = std::min<int64_t>(kTileRows, rows - i0);
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t v0 = vecs * t / tiles, v1 = vecs * (t + 1) / tiles;
      const int64_t j0 = v0 * kL, n = std::min(cols, v1 * kL) - j0;
      table[mr - 1][v1 - v0 - 1](depth, a + i0, aidx, b + j0, boff, n, c + i0, j0, accumulate);
    }
  }
}

// Flat-window geometry of a stride-1 conv from an input (channels, h, w) to an output
// (oh, ow): window (channels, oh + (kh-1)dh, wp = ow + (kw-1)dw) plus slack for the dropped
// columns of the last row; offsets of the reduction rows (c, i, j) in the window.
struct Window {
  int64_t channels, h, w, pad_h, pad_w, hp, wp, positions, size;
  std::vector<int64_t> off;

  Window(int64_t channels_, int64_t h_, int64_t w_, int64_t oh, int64_t ow, int64_t pad_h_,
         int64_t pad_w_, const ConvShape& s)
      : channels(channels_),
        h(h_),
        w(w_),
        pad_h(pad_h_),
        pad_w(pad_w_),
        hp(oh + (s.kernel[1] - 1) * s.dilation[1]),
        wp(ow + (s.kernel[2] - 1) * s.dilation[2]),
        positions(oh * wp),
        size(channels * hp * wp + (s.kernel[2] - 1) * s.dilation[2] + 64) {}

  // Fills dst (size elements) from src (channels, h, w).
  template <class T> void fill(const T* src, T* dst) const {
    pad_window(src, channels, h, w, pad_h, pad_w, hp, wp, dst);
    std::fill(dst + channels * hp * wp, dst + size, T(0));
  }
};

// dst (rows, oh, ow) = src (rows, oh * wp) without the wp - ow dropped columns, + bias[row].
template <class T> void compact(const T* src, int64_t rows, int64_t oh, int64_t ow, int64_t wp,
                                const T* bias, T* dst) {
  for (int64_t r = 0; r < rows; ++r) {
    const T b = bias ? bias[r] : T(0);
    for (int64_t o = 0; o < oh; ++o, dst += ow) {
      const T* row = src + (r * oh + o) * wp;
      for (int64_t j = 0; j < ow; ++j) dst[j] = row[j] + b;
    }
  }
}

// dst (channels, h, w) = the part of the window src that lies on the input; zero where no
// output reads.
template <class T> void crop(const T* src, const Window& win, T* dst) {
  for (int64_t c = 0; c < win.channels; ++c) {
    for (int64_t ih = 0; ih < win.h; ++ih, dst += win.w) {
      const int64_t ip = ih + win.pad_h;
      for (int64_t jw = 0; jw < win.w; ++jw) {
        const int64_t jp = jw + win.pad_w;
        dst[jw] = ip >= 0 && ip < win.hp && jp >= 0 && jp < win.wp
                      ? src[(c * win.hp + ip) * win.wp + jp]
                      : T(0);
      }
    }
  }
}

int64_t worker_count(int64_t items) {
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  return std::max<int64_t>(1, std::min<int64_t>(threads, items));
}

}  // namespace

template <class T>
void implicit_forward(const ConvShape& s, const T* x, const T* w, const T* bias, T* y) {
  const int64_t cin_g = s.in_channels / s.groups, cout_g = s.out_channels / s.groups;
  const int64_t rows_g = cin_g * s.kernel_size(), oh = s.out[1], ow = s.out[2];
  const Window win(cin_g, s.in[1], s.in[2], oh, ow, s.pad[1], s.pad[2], s);
  std::vector<int64_t> off;
  for (int64_t c = 0; c < cin_g; ++c)
    for (int64_t i = 0; i < s.kernel[1]; ++i)
      for (int64_t j = 0; j < s.kernel[2]; ++j)
        off.push_back((c * win.hp + i * s.dilation[1]) * win.wp + j * s.dilation[2]);
  std::vector<const T*> w_rows;
  for (int64_t m = 0; m < s.out_channels; ++m) w_rows.push_back(w + m * rows_g);
  std::vector<int64_t> iota(static_cast<size_t>(rows_g));
  for (int64_t r = 0; r < rows_g; ++r) iota[r] = r;
  parallel_for(s.batch * s.groups, 1, [&](int64_t begin, int64_t end) {
    T* xp = scratch<T>(0, win.size);
    T* yf = scratch<T>(1, cout_g * win.positions);  // (cout_g, oh * wp)
    std::vector<T*> y_rows;
    for (int64_t m = 0; m < cout_g; ++m) y_rows.push_back(yf + m * win.positions);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / s.groups, grp = item % s.groups;
      win.fill(x + (n * s.in_channels + grp * cin_g) * s.in_size(), xp);
      implicit_gemm<T>(cout_g, win.positions, rows_g, w_rows.data() + grp * cout_g, iota.data(), xp,
                       off.data(), y_rows.data(), false);
      compact(yf, cout_g, oh, ow, win.wp, bias ? bias + grp * cout_g : nullptr,
              y + (n * s.out_channels + grp * cout_g) * s.out_size());
    }
  });
}

template <class T> void implicit_backward(const ConvShape& s, const T* x, const T* w, const T* dy,
                                          T* dx, T* dw, T* dbias) {
  const int64_t cin_g = s.in_channels / s.groups, cout_g = s.out_channels / s.groups,
                k = s.kernel_size();
  const int64_t rows_g = cin_g * k, h = s.in[1], wd = s.in[2], oh = s.out[1], ow = s.out[2];
  const int64_t dh = s.dilation[1], dwl = s.dilation[2], kh = s.kernel[1], kw = s.kernel[2];
  const int64_t x_stride = s.in_channels * s.in_size(), dy_stride = s.out_channels * s.out_size();

  const Window win(cin_g, h, wd, oh, ow, s.pad[1], s.pad[2], s);
  std::vector<int64_t> off;  // window offsets of the reduction rows (c, i, j)
  for (int64_t c = 0; c < cin_g; ++c)
    for (int64_t i = 0; i < kh; ++i)
      for (int64_t j = 0; j < kw; ++j) off.push_back((c * win.hp + i * dh) * win.wp + j * dwl);

  if (dx) {
    // dcol (rows_g, positions) = W^T dY', added straight into the window of dX at each
    // reduction row's offset (a col2im fused into the tile stores); dY' is dY with zero
    // dropped columns, so they add nothing.
    // Reduction rows in (kernel offset, channel) order: the rows of one tile then land in
    // different channels of the window, so its overlapping adds do not wait on each other's
    // stores (rows (c, i, j) and (c, i, j + 1) overlap in all but one element).
    std::vector<int64_t> order;
    for (int64_t e = 0; e < k; ++e)
      for (int64_t c = 0; c < cin_g; ++c) order.push_back(c * k + e);
    std::vector<T> wt(static_cast<size_t>(s.out_channels * rows_g));  // per group (rows_g, cout_g)
    std::vector<const T*> wt_rows;
    for (int64_t grp = 0; grp < s.groups; ++grp) {
      for (int64_t r : order) {
        T* dst = wt.data() + (grp * rows_g + r) * cout_g;
        wt_rows.push_back(dst);
        for (int64_t m = 0; m < cout_g; ++m) dst[m] = w[(grp * cout_g + m) * rows_g + r];
      }
    }
    std::vector<int64_t> dy_off, iota;
    for (int64_t m = 0; m < cout_g; ++m) {
      dy_off.push_back(m * win.positions);
      iota.push_back(m);
    }
    parallel_for(s.batch * s.groups, 1, [&](int64_t begin, int64_t end) {
      T* dyp = scratch<T>(2, cout_g * win.positions + 64);  // (cout_g, oh, wp)
      T* dxp = scratch<T>(0, win.size);
      std::vector<T*> dx_rows;
      for (int64_t r : order) dx_rows.push_back(dxp + off[r]);
      for (int64_t item = begin; item < end; ++item) {
        const int64_t n = item / s.groups, grp = item % s.groups;
        pad_window(dy + n * dy_stride + grp * cout_g * s.out_size(), cout_g, oh, ow, int64_t{0},
                   int64_t{0}, oh, win.wp, dyp);
        std::fill(dxp, dxp + win.size, T(0));
        implicit_gemm<T>(rows_g, win.positions, cout_g, wt_rows.data() + grp * rows_g, iota.data(),
                         dyp, dy_off.data(), dx_rows.data(), true);
        crop(dxp, win, dx + n * x_stride + grp * cin_g * s.in_size());
      }
    });
  }
  if (!dw && !dbias) return;

  // dW reduces over the real output positions only: q = o * ow + j is row q of dY^T and
  // window position o * wp + j.
  std::vector<int64_t> dy_rows, x_pos;
  for (int64_t o = 0; o < oh; ++o) {
    for (int64_t j = 0; j < ow; ++j) {
      dy_rows.push_back((o * ow + j) * cout_g);
      x_pos.push_back(o * win.wp + j);
    }
  }
  const int64_t chunks = worker_count(s.batch);
  const int64_t part_size = s.groups * rows_g * cout_g;  // dW^T per group: (rows_g, cout_g)
  std::vector<T> parts(dw ? static_cast<size_t>(chunks * part_size) : 0, T(0));
  std::vector<T> bias_parts(dbias ? static_cast<size_t>(chunks * s.out_channels) : 0, T(0));
  parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    T* xp = dw ? scratch<T>(0, win.size) : nullptr;
    // (oh * ow, cout_g) and a vector of slack: the tiles read B rows as whole vectors.
    T* dyt = dw ? scratch<T>(3, s.out_size() * cout_g + Simd<T>::kLanes) : nullptr;
    std::vector<const T*> rows(static_cast<size_t>(rows_g));
    std::vector<T*> part_rows(static_cast<size_t>(rows_g));
    for (int64_t chunk = c0; chunk < c1; ++chunk) {
      for (int64_t n = s.batch * chunk / chunks; n < s.batch * (chunk + 1) / chunks; ++n) {
        for (int64_t grp = 0; grp < s.groups; ++grp) {
          const T* dyg = dy + n * dy_stride + grp * cout_g * s.out_size();
          if (dbias) {
            T* db = bias_parts.data() + chunk * s.out_channels + grp * cout_g;
            for (int64_t m = 0; m < cout_g; ++m) {
              T acc = T(0);
              const T* g = dyg + m * s.out_size();
#pragma omp simd reduction(+ : acc)
              for (int64_t p = 0; p < s.out_size(); ++p) acc += g[p];
              db[m] += acc;
            }
          }
          if (!dw) continue;
          win.fill(x + n * x_stride + grp * cin_g * s.in_size(), xp);
          for (int64_t m = 0; m < cout_g; ++m) {
            const T* src = dyg + m * s.out_size();
            for (int64_t q = 0; q < s.out_size(); ++q) dyt[q * cout_g + m] = src[q];
          }
          T* part = parts.data() + chunk * part_size + grp * rows_g * cout_g;  // (rows_g, cout_g)
          for (int64_t r = 0; r < rows_g; ++r) {
            rows[r] = xp + off[r];
            part_rows[r] = part + r * cout_g;
          }
          implicit_gemm<T>(rows_g, cout_g, s.out_size(), rows.data(), x_pos.data(), dyt,
                           dy_rows.data(), part_rows.data(), true);
        }
      }
    }
  });
  if (dw) {
    for (int64_t grp = 0; grp < s.groups; ++grp) {
      for (int64_t m = 0; m < cout_g; ++m) {
        for (int64_t r = 0; r < rows_g; ++r) {
          T sum = T(0);
          for (int64_t c = 0; c < chunks; ++c)
            sum += parts[(c * s.groups + grp) * rows_g * cout_g + r * cout_g + m];
          dw[(grp * cout_g + m) * rows_g + r] = sum;
        }
      }
    }
  }
  if (dbias) {
    for (int64_t m = 0; m < s.out_channels; ++m) {
      T sum = T(0);
      for (int64_t c = 0; c < chunks; ++c) sum += bias_parts[c * s.out_channels + m];
      dbias[m] = sum;
    }
  }
}

TAMP_CONV_TARGET_ENTRIES(implicit)

}  // namespace tamp::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tamp::kernels {

bool conv_implicit_applies(const ConvShape& s) {
  const bool planar = s.in[0] == 1 && s.out[0] == 1 && s.kernel[0] == 1 && s.pad[0] == 0;
  // With fewer images (x groups) than threads, im2col lets the GEMM thread instead.
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  return planar && s.stride[1] == 1 && s.stride[2] == 1 && s.batch * s.groups >= threads &&
         s.out_size() >= kSmallPlane;
}

TAMP_CONV_EXPORTS(implicit, conv_implicit);

}  // namespace tamp::kernels
#endif  // HWY_ONCE
