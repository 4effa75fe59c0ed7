// Convolution entry points. Layers go to the fastest kernel that takes them:
//   conv_direct.cpp    a reduction (C/groups * kernel) of at most 32: first layers, depthwise;
//   conv_implicit.cpp  unit strides, 1-D/2-D: the 3x3 body of a CNN;
//   im2col + GEMM      everything else (strided, 3-D, a single image on several threads).
// The im2col path gives each thread a contiguous chunk of the batch and runs single-threaded
// GEMMs (Eigen does not nest inside an OpenMP region); with one image the images run serially
// and Eigen threads each GEMM instead.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tamp/autograd/kernels/conv.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>
#include <tamp/autograd/kernels/conv.h>
#include <tamp/autograd/kernels/conv_direct.h>
#include <tamp/autograd/kernels/conv_dispatch.h>
#include <tamp/autograd/kernels/conv_implicit.h>
#include <tamp/autograd/kernels/gemm.h>
#include <tamp/autograd/kernels/im2col_inl.h>
#include <tamp/autograd/kernels/parallel.h>

#include <omp.h>

#include <algorithm>
#include <vector>

HWY_BEFORE_NAMESPACE();
namespace tamp::kernels::HWY_NAMESPACE {

namespace {

// Column buffers are tiled to about this many bytes so that im2col output is still in L2
// when the GEMM packs it.
constexpr int64_t kColBudgetBytes = int64_t{1} << 20;

// A per-thread buffer that only grows: OpenMP threads persist, so steady-state training
// allocates no column buffers.
template <class T> T* scratch(int slot, int64_t n) {
  thread_local std::vector<T> buffers[2];
  auto& b = buffers[slot];
  if (static_cast<int64_t>(b.size()) < n) b.resize(static_cast<size_t>(n));
  return b.data();
}

struct Plan {
  int64_t cin_g, cout_g;
  int64_t rows_g;  // rows of a group's column matrix: cin_g * kernel_size
  int64_t in_size, out_size;
  int64_t out_rows;   // out[0] * out[1]
  int64_t row_len;    // out[2]
  int64_t tile_rows;  // output rows per column tile
  // 1x1 kernel, stride 1, no padding: the input is its own column matrix.
  bool direct;

  Plan(const ConvShape& s, int64_t elem_bytes) {
    cin_g = s.in_channels / s.groups;
    cout_g = s.out_channels / s.groups;
    rows_g = cin_g * s.kernel_size();
    in_size = s.in_size();
    out_size = s.out_size();
    out_rows = s.out[0] * s.out[1];
    row_len = s.out[2];
    direct = s.kernel_size() == 1;
    for (int d = 0; d < 3; ++d) direct &= s.stride[d] == 1 && s.pad[d] == 0 && s.in[d] == s.out[d];
    const int64_t row_bytes =
        std::max<int64_t>(1, s.in_channels * s.kernel_size() * row_len * elem_bytes);
    tile_rows = direct ? out_rows
                       : std::clamp<int64_t>(kColBudgetBytes / row_bytes, 1,
                                             std::max<int64_t>(out_rows, 1));
  }
};

// Number of batch chunks, one per thread that will run.
int64_t batch_chunks(int64_t batch) {
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  return std::max<int64_t>(1, std::min<int64_t>(threads, batch));
}

// Images per GEMM for a small output plane: as many as keep the column buffer near the
// budget, but no more than one thread's share of the batch.
int64_t images_per_gemm(const ConvShape& s, const Plan& p, int64_t elem_bytes) {
  const int64_t image_bytes =
      std::max<int64_t>(1, s.in_channels * s.kernel_size() * p.out_size * elem_bytes);
  const int64_t share = (s.batch + batch_chunks(s.batch) - 1) / batch_chunks(s.batch);
  return std::clamp<int64_t>(kColBudgetBytes / image_bytes, 1, std::max<int64_t>(share, 1));
}

// The columns of images [n0, n1) side by side, rows ld apart: each image's im2col, or for a
// 1x1 unit-stride kernel its planes themselves.
template <class T> void gather_columns(const ConvShape& s, const Plan& p, const T* x, int64_t n0,
                                       int64_t n1, T* col, int64_t ld) {
  const int64_t x_stride = s.in_channels * p.in_size;
  for (int64_t n = n0; n < n1; ++n) {
    T* dst = col + (n - n0) * p.out_size;
    if (!p.direct) {
      im2col(s, s.in_channels, x + n * x_stride, 0, p.out_rows, dst, ld);
      continue;
    }
    for (int64_t c = 0; c < s.in_channels; ++c)
      std::copy_n(x + n * x_stride + c * p.in_size, p.in_size, dst + c * ld);
  }
}

// dx of images [n0, n1) = the adjoint of gather_columns applied to dcol.
template <class T> void scatter_columns(const ConvShape& s, const Plan& p, const T* dcol,
                                        int64_t n0, int64_t n1, T* dx, int64_t ld) {
  const int64_t x_stride = s.in_channels * p.in_size;
  for (int64_t n = n0; n < n1; ++n) {
    const T* src = dcol + (n - n0) * p.out_size;
    T* dxn = dx + n * x_stride;
    if (!p.direct) {
      std::fill(dxn, dxn + x_stride, T(0));
      col2im(s, s.in_channels, src, 0, p.out_rows, dxn, ld);
      continue;
    }
    for (int64_t c = 0; c < s.in_channels; ++c)
      std::copy_n(src + c * ld, p.in_size, dxn + c * p.in_size);
  }
}

// y of images [n0, n1) = W x (their columns side by side): one GEMM per group over
// (n1 - n0) * out_size columns, then each image's block to its place (+ bias).
template <class T> void batched_forward(const ConvShape& s, const Plan& p, const T* x, const T* w,
                                        const T* bias, T* y) {
  const int64_t per = images_per_gemm(s, p, sizeof(T)), tiles = (s.batch + per - 1) / per;
  const int64_t y_stride = s.out_channels * p.out_size;
  parallel_for(tiles, 1, [&](int64_t t0, int64_t t1) {
    T* col = scratch<T>(0, s.groups * p.rows_g * per * p.out_size);  // (C * kernel, images * out)
    T* out = scratch<T>(1, p.cout_g * per * p.out_size);             // (M / groups, images * out)
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n0 = t * per, n1 = std::min(s.batch, n0 + per), cols = (n1 - n0) * p.out_size;
      gather_columns(s, p, x, n0, n1, col, cols);
      for (int64_t g = 0; g < s.groups; ++g) {
        gemm(false, false, p.cout_g, cols, p.rows_g, T(1), w + g * p.cout_g * p.rows_g, p.rows_g,
             col + g * p.rows_g * cols, cols, T(0), out, cols);
        for (int64_t m = 0; m < p.cout_g; ++m) {
          const T b = bias ? bias[g * p.cout_g + m] : T(0);
          for (int64_t n = n0; n < n1; ++n) {
            const T* src = out + m * cols + (n - n0) * p.out_size;
            T* dst = y + n * y_stride + (g * p.cout_g + m) * p.out_size;
            for (int64_t i = 0; i < p.out_size; ++i) dst[i] = src[i] + b;
          }
        }
      }
    }
  });
}

// The backward of batched_forward: dY of a tile gathered to (M, images * out), then
// dW += dY' col^T and dcol = W^T dY', scattered back per image by col2im.
template <class T> void batched_backward(const ConvShape& s, const Plan& p, const T* x, const T* w,
                                         const T* dy, T* dx, T* dw, T* dbias) {
  const int64_t per = images_per_gemm(s, p, sizeof(T)), tiles = (s.batch + per - 1) / per;
  const int64_t y_stride = s.out_channels * p.out_size;
  const int64_t dw_size = s.out_channels * p.rows_g,
                chunks = std::min(batch_chunks(s.batch), tiles);
  // Chunk 0 accumulates into dw itself, the others into partials summed after.
  std::vector<T> dw_partial(dw ? static_cast<size_t>((chunks - 1) * dw_size) : 0, T(0));
  if (dw) std::fill(dw, dw + dw_size, T(0));
  if (dbias) {
    for (int64_t m = 0; m < s.out_channels; ++m) {
      T acc = T(0);
      for (int64_t n = 0; n < s.batch; ++n) {
        const T* g = dy + n * y_stride + m * p.out_size;
        for (int64_t i = 0; i < p.out_size; ++i) acc += g[i];
      }
      dbias[m] = acc;
    }
  }
  parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    T* col = scratch<T>(0, s.groups * p.rows_g * per * p.out_size);
    T* dyt = scratch<T>(1, s.out_channels * per * p.out_size);  // (M, images * out)
    for (int64_t chunk = c0; chunk < c1; ++chunk) {
      T* dwc = !dw ? nullptr : chunk == 0 ? dw : dw_partial.data() + (chunk - 1) * dw_size;
      for (int64_t t = tiles * chunk / chunks; t < tiles * (chunk + 1) / chunks; ++t) {
        const int64_t n0 = t * per, n1 = std::min(s.batch, n0 + per), cols = (n1 - n0) * p.out_size;
        for (int64_t m = 0; m < s.out_channels; ++m) {
          for (int64_t n = n0; n < n1; ++n) {
            std::copy_n(dy + n * y_stride + m * p.out_size, p.out_size,
                        dyt + m * cols + (n - n0) * p.out_size);
          }
        }
        if (dwc) {
          gather_columns(s, p, x, n0, n1, col, cols);
          for (int64_t g = 0; g < s.groups; ++g) {
            gemm(false, true, p.cout_g, p.rows_g, cols, T(1), dyt + g * p.cout_g * cols, cols,
                 col + g * p.rows_g * cols, cols, T(1), dwc + g * p.cout_g * p.rows_g, p.rows_g);
          }
        }
        if (dx) {
          for (int64_t g = 0; g < s.groups; ++g) {
            gemm(true, false, p.rows_g, cols, p.cout_g, T(1), w + g * p.cout_g * p.rows_g, p.rows_g,
                 dyt + g * p.cout_g * cols, cols, T(0), col + g * p.rows_g * cols, cols);
          }
          scatter_columns(s, p, col, n0, n1, dx, cols);
        }
      }
    }
  });
  for (int64_t c = 1; dw && c < chunks; ++c) {
    const T* part = dw_partial.data() + (c - 1) * dw_size;
    for (int64_t i = 0; i < dw_size; ++i) dw[i] += part[i];
  }
}

}  // namespace

template <class T>
void lowered_forward(const ConvShape& s, const T* x, const T* w, const T* bias, T* y) {
  if (conv_direct_applies(s)) return conv_direct_forward(s, x, w, bias, y);
  if (conv_implicit_applies(s)) return conv_implicit_forward(s, x, w, bias, y);
  const Plan p(s, sizeof(T));
  if (p.out_size < kSmallPlane) return batched_forward(s, p, x, w, bias, y);
  const int64_t x_stride = s.in_channels * p.in_size, y_stride = s.out_channels * p.out_size;
  parallel_for(s.batch, 1, [&](int64_t b0, int64_t b1) {
    T* col = p.direct ? nullptr : scratch<T>(0, s.groups * p.rows_g * p.tile_rows * p.row_len);
    for (int64_t n = b0; n < b1; ++n) {
      const T* xn = x + n * x_stride;  // (C, in)
      T* yn = y + n * y_stride;        // (M, out)
      for (int64_t r0 = 0; r0 < p.out_rows; r0 += p.tile_rows) {
        const int64_t r1 = std::min(p.out_rows, r0 + p.tile_rows);
        const int64_t cols = (r1 - r0) * p.row_len;
        const T* src = p.direct ? xn + r0 * p.row_len : col;  // (C * kernel_size, cols)
        const int64_t ld = p.direct ? p.in_size : cols;
        if (!p.direct) im2col(s, s.in_channels, xn, r0, r1, col);
        for (int64_t g = 0; g < s.groups; ++g) {
          gemm(false, false, p.cout_g, cols, p.rows_g, T(1), w + g * p.cout_g * p.rows_g, p.rows_g,
               src + g * p.rows_g * ld, ld, T(0), yn + g * p.cout_g * p.out_size + r0 * p.row_len,
               p.out_size);
        }
      }
      if (bias) {
        for (int64_t m = 0; m < s.out_channels; ++m) {
          T* ym = yn + m * p.out_size;
          const T b = bias[m];
          for (int64_t i = 0; i < p.out_size; ++i) ym[i] += b;
        }
      }
    }
  });
}

template <class T> void lowered_backward(const ConvShape& s, const T* x, const T* w, const T* dy,
                                         T* dx, T* dw, T* dbias) {
  if (conv_direct_applies(s)) return conv_direct_backward(s, x, w, dy, dx, dw, dbias);
  if (conv_implicit_applies(s)) return conv_implicit_backward(s, x, w, dy, dx, dw, dbias);
  const Plan p(s, sizeof(T));
  if (p.out_size < kSmallPlane) return batched_backward(s, p, x, w, dy, dx, dw, dbias);
  const int64_t x_stride = s.in_channels * p.in_size, y_stride = s.out_channels * p.out_size;
  const int64_t dw_size = s.out_channels * p.rows_g;
  const int64_t chunks = batch_chunks(s.batch);
  // Chunk 0 accumulates into dw and dbias themselves, the others into partials summed after.
  std::vector<T> dw_partial(dw ? static_cast<size_t>((chunks - 1) * dw_size) : 0, T(0));
  std::vector<T> db_partial(dbias ? static_cast<size_t>((chunks - 1) * s.out_channels) : 0, T(0));
  if (dw) std::fill(dw, dw + dw_size, T(0));
  if (dbias) std::fill(dbias, dbias + s.out_channels, T(0));

  parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    const int64_t col_elems = s.groups * p.rows_g * p.tile_rows * p.row_len;
    T* col = p.direct || !dw ? nullptr : scratch<T>(0, col_elems);
    T* dcol = p.direct || !dx ? nullptr : scratch<T>(1, col_elems);
    for (int64_t chunk = c0; chunk < c1; ++chunk) {
      T* dwc = chunk == 0 ? dw : dw_partial.data() + (chunk - 1) * dw_size;
      T* dbc = chunk == 0 ? dbias : db_partial.data() + (chunk - 1) * s.out_channels;
      for (int64_t n = s.batch * chunk / chunks; n < s.batch * (chunk + 1) / chunks; ++n) {
        const T* dyn = dy + n * y_stride;  // (M, out)
        T* dxn = dx ? dx + n * x_stride : nullptr;
        if (dxn && !p.direct) std::fill(dxn, dxn + x_stride, T(0));
        for (int64_t r0 = 0; r0 < p.out_rows; r0 += p.tile_rows) {
          const int64_t r1 = std::min(p.out_rows, r0 + p.tile_rows);
          const int64_t cols = (r1 - r0) * p.row_len;
          const T* dy_tile = dyn + r0 * p.row_len;  // (M, cols), row stride out_size
          if (dw) {
            const T* xn = x + n * x_stride;
            const T* src = p.direct ? xn + r0 * p.row_len : col;
            const int64_t ld = p.direct ? p.in_size : cols;
            if (!p.direct) im2col(s, s.in_channels, xn, r0, r1, col);
            for (int64_t g = 0; g < s.groups; ++g) {
              gemm(false, true, p.cout_g, p.rows_g, cols, T(1), dy_tile + g * p.cout_g * p.out_size,
                   p.out_size, src + g * p.rows_g * ld, ld, T(1), dwc + g * p.cout_g * p.rows_g,
                   p.rows_g);
            }
          }
          if (dxn) {
            T* dst = p.direct ? dxn + r0 * p.row_len : dcol;
            const int64_t ld = p.direct ? p.in_size : cols;
            for (int64_t g = 0; g < s.groups; ++g) {
              gemm(true, false, p.rows_g, cols, p.cout_g, T(1), w + g * p.cout_g * p.rows_g,
                   p.rows_g, dy_tile + g * p.cout_g * p.out_size, p.out_size, T(0),
                   dst + g * p.rows_g * ld, ld);
            }
            if (!p.direct) col2im(s, s.in_channels, dcol, r0, r1, dxn);
          }
        }
        if (dbc) {
          for (int64_t m = 0; m < s.out_channels; ++m) {
            const T* g = dyn + m * p.out_size;
            T acc = T(0);
#pragma omp simd reduction(+ : acc)
            for (int64_t i = 0; i < p.out_size; ++i) acc += g[i];
            dbc[m] += acc;
          }
        }
      }
    }
  });

  for (int64_t c = 1; c < chunks; ++c) {
    if (dw) {
      const T* part = dw_partial.data() + (c - 1) * dw_size;
      for (int64_t i = 0; i < dw_size; ++i) dw[i] += part[i];
    }
    if (dbias) {
      const T* part = db_partial.data() + (c - 1) * s.out_channels;
      for (int64_t m = 0; m < s.out_channels; ++m) dbias[m] += part[m];
    }
  }
}

TAMP_CONV_TARGET_ENTRIES(lowered)

}  // namespace tamp::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tamp::kernels {

TAMP_CONV_EXPORTS(lowered, conv);

}  // namespace tamp::kernels
#endif  // HWY_ONCE
