// Internal: layout helpers of the convolution kernels, one copy per instruction set (see
// simd_inl.h): im2col / col2im (conv.cpp) over a band of output rows so that the column
// buffer stays small, and pad_window (the direct and implicit kernels). A row is one (d, h)
// pair of the output grid and spans out[2] positions; the band [r0, r1) gives
// (r1 - r0) * out[2] columns.
#if defined(TAMP_AUTOGRAD_KERNELS_IM2COL_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TAMP_AUTOGRAD_KERNELS_IM2COL_INL_H_
#undef TAMP_AUTOGRAD_KERNELS_IM2COL_INL_H_
#else
#define TAMP_AUTOGRAD_KERNELS_IM2COL_INL_H_
#endif

#include <tamp/autograd/kernels/conv.h>
#include <tamp/autograd/kernels/simd_inl.h>

#include <algorithm>

HWY_BEFORE_NAMESPACE();
namespace tamp::kernels::HWY_NAMESPACE {

namespace detail {

// Short-row helpers: conv rows are often shorter than a vector or two (11 and 26 floats in a
// small CNN), where a scalar remainder loop or a memmove call per row would dominate im2col.
template <class T> inline void copy_row(const T* src, T* dst, int64_t n) {
  using S = Simd<T>;
  int64_t i = 0;
  for (; i + S::kLanes <= n; i += S::kLanes) S::store(dst + i, S::load(src + i));
  if (i < n) S::store_first(dst + i, S::load_first(src + i, n - i), n - i);
}

template <class T> inline void add_row(const T* src, T* dst, int64_t n) {
  using S = Simd<T>;
  int64_t i = 0;
  for (; i + S::kLanes <= n; i += S::kLanes)
    S::store(dst + i, S::add(S::load(dst + i), S::load(src + i)));
  if (i < n)
    S::store_first(dst + i, S::add(S::load_first(dst + i, n - i), S::load_first(src + i, n - i)),
                   n - i);
}

template <class T> inline void zero_row(T* dst, int64_t n) {
  using S = Simd<T>;
  int64_t i = 0;
  for (; i + S::kLanes <= n; i += S::kLanes) S::store(dst + i, S::zero());
  if (i < n) S::store_first(dst + i, S::zero(), n - i);
}

// The output positions [lo, hi) of a dim whose input position o * stride + base is in [0, in).
inline void valid_range(int64_t base, int64_t stride, int64_t in, int64_t out, int64_t& lo,
                        int64_t& hi) {
  lo = base >= 0 ? 0 : (-base + stride - 1) / stride;
  hi = in - base <= 0 ? 0 : (in - base + stride - 1) / stride;
  lo = std::min(lo, out);
  hi = std::clamp(hi, lo, out);
}

// Calls f(offset_in_col, input_row_or_null, base, lo, hi) for every (channel, kernel offset,
// output row) of the band: output column ow in [lo, hi) reads input_row[ow * stride[2] + base];
// the input row is null when the whole row is padding. Rows of col are (channel, kernel
// offset), or with kOffsetMajor (kernel offset, channel) — the filter order ONNX Runtime's
// integer convolutions sum in.
template <bool kOffsetMajor = false, class T, class F>
void for_each_col_row(const ConvShape& s, int64_t channels, T* x, int64_t r0, int64_t r1,
                      int64_t ld, F&& f) {
  const int64_t row_len = s.out[2];
  const int64_t in_size = s.in_size();
  const int64_t kernel_size = s.kernel_size();
  for (int64_t c = 0; c < channels; ++c) {
    T* xc = x + c * in_size;
    int64_t offset = 0;
    for (int64_t kd = 0; kd < s.kernel[0]; ++kd) {
      for (int64_t kh = 0; kh < s.kernel[1]; ++kh) {
        for (int64_t kw = 0; kw < s.kernel[2]; ++kw, ++offset) {
          const int64_t row = kOffsetMajor ? offset * channels + c : c * kernel_size + offset;
          const int64_t wbase = kw * s.dilation[2] - s.pad[2];
          int64_t lo, hi;
          valid_range(wbase, s.stride[2], s.in[2], row_len, lo, hi);
          int64_t od = r0 / s.out[1], oh = r0 % s.out[1];
          for (int64_t r = r0; r < r1; ++r) {
            const int64_t id = od * s.stride[0] - s.pad[0] + kd * s.dilation[0];
            const int64_t ih = oh * s.stride[1] - s.pad[1] + kh * s.dilation[1];
            const bool inside = id >= 0 && id < s.in[0] && ih >= 0 && ih < s.in[1];
            f(row * ld + (r - r0) * row_len, inside ? xc + (id * s.in[1] + ih) * s.in[2] : nullptr,
              wbase, lo, hi);
            if (++oh == s.out[1]) {
              oh = 0;
              ++od;
            }
          }
        }
      }
    }
  }
}

}  // namespace detail

// dst (channels, hp, wp) = the window of src (channels, h, w) that starts at row -pad_h and
// column -pad_w (pads may be negative: a crop), zero outside src. The direct kernels read
// this instead of bounds-checking every load.
template <class T> void pad_window(const T* src, int64_t channels, int64_t h, int64_t w,
                                   int64_t pad_h, int64_t pad_w, int64_t hp, int64_t wp, T* dst) {
  const int64_t j0 = std::clamp<int64_t>(pad_w, 0, wp), j1 = std::clamp<int64_t>(pad_w + w, j0, wp);
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t ip = 0; ip < hp; ++ip, dst += wp) {
      const int64_t ih = ip - pad_h;
      if (ih < 0 || ih >= h) {
        detail::zero_row(dst, wp);
        continue;
      }
      const T* row = src + (c * h + ih) * w;
      detail::zero_row(dst, j0);
      detail::copy_row(row + (j0 - pad_w), dst + j0, j1 - j0);
      detail::zero_row(dst + j1, wp - j1);
    }
  }
}

// col (channels * kernel_size, cols) = the input patches of output rows [r0, r1), cols =
// (r1 - r0) * out[2]; rows of col are ld apart (ld > cols: several images side by side).
// x is (channels, in).
template <class T> void im2col(const ConvShape& s, int64_t channels, const T* x, int64_t r0,
                               int64_t r1, T* col, int64_t ld = 0) {
  const int64_t row_len = s.out[2], stride = s.stride[2];
  const int64_t cols = ld > 0 ? ld : (r1 - r0) * row_len;
  detail::for_each_col_row(s, channels, x, r0, r1, cols,
                           [&](int64_t at, const T* src, int64_t base, int64_t lo, int64_t hi) {
                             T* dst = col + at;
                             if (!src) {
                               detail::zero_row(dst, row_len);
                               return;
                             }
                             if (stride == 1) {
                               detail::zero_row(dst, lo);
                               detail::copy_row(src + lo + base, dst + lo, hi - lo);
                               detail::zero_row(dst + hi, row_len - hi);
                             } else {
                               std::fill(dst, dst + lo, T(0));
                               for (int64_t ow = lo; ow < hi; ++ow)
                                 dst[ow] = src[ow * stride + base];
                               std::fill(dst + hi, dst + row_len, T(0));
                             }
                           });
}

// x (channels, in) += the patches of col (channels * kernel_size, cols), the adjoint of im2col
// (the same ld).
template <class T> void col2im(const ConvShape& s, int64_t channels, const T* col, int64_t r0,
                               int64_t r1, T* x, int64_t ld = 0) {
  const int64_t row_len = s.out[2], stride = s.stride[2];
  const int64_t cols = ld > 0 ? ld : (r1 - r0) * row_len;
  detail::for_each_col_row(s, channels, x, r0, r1, cols,
                           [&](int64_t at, T* dst, int64_t base, int64_t lo, int64_t hi) {
                             if (!dst) return;
                             const T* src = col + at;
                             if (stride == 1) {
                               detail::add_row(src + lo, dst + lo + base, hi - lo);
                             } else {
                               for (int64_t ow = lo; ow < hi; ++ow)
                                 dst[ow * stride + base] += src[ow];
                             }
                           });
}

}  // namespace tamp::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // TAMP_AUTOGRAD_KERNELS_IM2COL_INL_H_ toggle
