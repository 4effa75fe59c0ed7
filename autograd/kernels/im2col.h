// Internal: im2col / col2im for the convolution kernels (conv.cpp), over a band of output rows
// so that the column buffer stays small. A row is one (d, h) pair of the output grid and
// spans out[2] positions; the band [r0, r1) gives (r1 - r0) * out[2] columns.
#pragma once

#include <tamp/autograd/kernels/conv.h>

#include <algorithm>

namespace tamp::kernels {

namespace detail {

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
// the input row is null when the whole row is padding.
template <class T, class F>
void for_each_col_row(const ConvShape& s, int64_t channels, T* x, int64_t r0, int64_t r1,
                      int64_t cols, F&& f) {
  const int64_t row_len = s.out[2];
  const int64_t in_size = s.in_size();
  int64_t row = 0;
  for (int64_t c = 0; c < channels; ++c) {
    T* xc = x + c * in_size;
    for (int64_t kd = 0; kd < s.kernel[0]; ++kd) {
      for (int64_t kh = 0; kh < s.kernel[1]; ++kh) {
        for (int64_t kw = 0; kw < s.kernel[2]; ++kw, ++row) {
          const int64_t wbase = kw * s.dilation[2] - s.pad[2];
          int64_t lo, hi;
          valid_range(wbase, s.stride[2], s.in[2], row_len, lo, hi);
          int64_t od = r0 / s.out[1], oh = r0 % s.out[1];
          for (int64_t r = r0; r < r1; ++r) {
            const int64_t id = od * s.stride[0] - s.pad[0] + kd * s.dilation[0];
            const int64_t ih = oh * s.stride[1] - s.pad[1] + kh * s.dilation[1];
            const bool inside = id >= 0 && id < s.in[0] && ih >= 0 && ih < s.in[1];
            f(row * cols + (r - r0) * row_len, inside ? xc + (id * s.in[1] + ih) * s.in[2] : nullptr,
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

// col (channels * kernel_size, cols) = the input patches of output rows [r0, r1).
// x is (channels, in).
template <class T>
void im2col(const ConvShape& s, int64_t channels, const T* x, int64_t r0, int64_t r1, T* col) {
  const int64_t row_len = s.out[2], stride = s.stride[2];
  const int64_t cols = (r1 - r0) * row_len;
  detail::for_each_col_row(s, channels, x, r0, r1, cols,
                           [&](int64_t at, const T* src, int64_t base, int64_t lo, int64_t hi) {
    T* dst = col + at;
    if (!src) {
      std::fill(dst, dst + row_len, T(0));
      return;
    }
    std::fill(dst, dst + lo, T(0));
    if (stride == 1) {
      std::copy(src + lo + base, src + hi + base, dst + lo);
    } else {
      for (int64_t ow = lo; ow < hi; ++ow) dst[ow] = src[ow * stride + base];
    }
    std::fill(dst + hi, dst + row_len, T(0));
  });
}

// x (channels, in) += the patches of col (channels * kernel_size, cols), the adjoint of im2col.
template <class T>
void col2im(const ConvShape& s, int64_t channels, const T* col, int64_t r0, int64_t r1, T* x) {
  const int64_t row_len = s.out[2], stride = s.stride[2];
  const int64_t cols = (r1 - r0) * row_len;
  detail::for_each_col_row(s, channels, x, r0, r1, cols,
                           [&](int64_t at, T* dst, int64_t base, int64_t lo, int64_t hi) {
    if (!dst) return;
    const T* src = col + at;
    if (stride == 1) {
      for (int64_t ow = lo; ow < hi; ++ow) dst[ow + base] += src[ow];
    } else {
      for (int64_t ow = lo; ow < hi; ++ow) dst[ow * stride + base] += src[ow];
    }
  });
}

}  // namespace tamp::kernels
