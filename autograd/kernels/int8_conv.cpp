// The integer convolution (int8_conv.h): per image and group, the 8-bit column matrix (im2col
// in (kernel offset, channel) order, padding = the input's zero point) times the group's
// filters through int8_gemm. Compiled once per instruction set for im2col_inl.h's walk.
// Output planes under kSmallPlane positions put several images side by side in one GEMM, as
// the float convolution does, so that the GEMM is not a few columns wide.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tamp/autograd/kernels/int8_conv.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>
#include <tamp/autograd/kernels/dispatch.h>
#include <tamp/autograd/kernels/im2col_inl.h>
#include <tamp/autograd/kernels/int8_conv.h>
#include <tamp/autograd/kernels/int8_gemm.h>
#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/kernels/requantize.h>
#include <tamp/autograd/kernels/scratch.h>

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

HWY_BEFORE_NAMESPACE();
namespace tamp::kernels::HWY_NAMESPACE {
namespace {

// Columns a GEMM should have at least: below that its register tiles run mostly empty.
constexpr int64_t kMinColumns = 256;

// col (channels * kernel_size, ld) from column `at0` on: the patches of one image x (channels,
// in) in (kernel offset, channel) row order, `pad` outside the input. Bytes: int8 and uint8
// are copied alike.
void im2col_bytes(const ConvShape& s, int64_t channels, const uint8_t* x, uint8_t pad, uint8_t* col,
                  int64_t ld) {
  const int64_t row_len = s.out[2], stride = s.stride[2];
  detail::for_each_col_row<true>(
      s, channels, x, 0, s.out[0] * s.out[1], ld,
      [&](int64_t at, const uint8_t* src, int64_t base, int64_t lo, int64_t hi) {
        uint8_t* dst = col + at;
        if (!src) {
          std::memset(dst, pad, static_cast<size_t>(row_len));
          return;
        }
        std::memset(dst, pad, static_cast<size_t>(lo));
        if (stride == 1) {
          std::memcpy(dst + lo, src + lo + base, static_cast<size_t>(hi - lo));
        } else {
          for (int64_t ow = lo; ow < hi; ++ow) dst[ow] = src[ow * stride + base];
        }
        std::memset(dst + hi, pad, static_cast<size_t>(row_len - hi));
      });
}

// The int32 sums into y32, or requantized by r into y8.
void int8_conv_any(const ConvShape& s, const Int8ConvInput& x, const Int8ConvWeights& w,
                   bool saturate_pairs, int32_t* y32, const Requantization* r, void* y8) {
  const int64_t cg = s.in_channels / s.groups, mg = s.out_channels / s.groups, ks = s.kernel_size();
  const int64_t k = ks * cg, out = s.out_size(), in = s.in_size();
  // The filters as rows of A, (M, kernel offset, channel).
  std::vector<uint8_t> filters(static_cast<size_t>(s.out_channels * k));
  const auto* pw = static_cast<const uint8_t*>(w.data);
  for (int64_t m = 0; m < s.out_channels; ++m) {
    for (int64_t c = 0; c < cg; ++c) {
      for (int64_t p = 0; p < ks; ++p) filters[m * k + p * cg + c] = pw[(m * cg + c) * ks + p];
    }
  }
  const auto* px = static_cast<const uint8_t*>(x.data);
  const auto pad = static_cast<uint8_t>(x.zero_point);
  // Images per GEMM: enough for kMinColumns, no more than one thread's share of the batch.
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t share = (s.batch + threads - 1) / threads;
  const int64_t images = std::clamp<int64_t>((kMinColumns + out - 1) / out, 1, share);
  parallel_for((s.batch + images - 1) / images, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t n0 = c0 * images; n0 < std::min(s.batch, c1 * images); n0 += images) {
      const int64_t count = std::min(images, s.batch - n0), cols = count * out;
      uint8_t* col = thread_scratch<uint8_t, 0>(k * cols);  // (k, count * out)
      // One image without requantization: the GEMM writes y32; else a (mg, count * out) block
      // scattered (requantized) after.
      const bool direct = count == 1 && !r;
      int32_t* block = direct ? nullptr : thread_scratch<int32_t, 2>(mg * cols);
      for (int64_t g = 0; g < s.groups; ++g) {
        for (int64_t i = 0; i < count; ++i) {
          im2col_bytes(s, cg, px + ((n0 + i) * s.in_channels + g * cg) * in, pad, col + i * out,
                       cols);
        }
        const int64_t y0 = (n0 * s.out_channels + g * mg) * out;  // y (image n0, channel g * mg)
        const Int8Matrix a{filters.data() + g * mg * k, k, w.is_signed, w.zero_points + g * mg,
                           true};
        const Int8Matrix b{col, cols, x.is_signed, &x.zero_point, false};
        int32_t* c = direct ? y32 + y0 : block;
        if (k > 0) {
          int8_gemm(a, b, mg, cols, k, saturate_pairs, c, direct ? out : cols);
        } else {  // no input channels: sums of nothing
          std::fill(c, c + mg * cols, 0);
        }
        if (direct) continue;
        for (int64_t m = 0; m < mg; ++m) {
          const int64_t channel = g * mg + m;
          for (int64_t i = 0; i < count; ++i) {
            const int32_t* sums = block + m * cols + i * out;
            const int64_t at = y0 + (i * s.out_channels + m) * out;
            if (!r) {
              std::memcpy(y32 + at, sums, static_cast<size_t>(out) * sizeof(int32_t));
              continue;
            }
            const Requantization channel_r{r->bias ? r->bias + channel : nullptr,
                                           r->multipliers + (r->per_channel ? channel : 0), false,
                                           r->zero_point, r->is_signed};
            requantize(sums, 1, 1, out, channel_r, static_cast<uint8_t*>(y8) + at);
          }
        }
      }
    }
  });
}

}  // namespace

void int8_conv_i32(const ConvShape& s, const Int8ConvInput& x, const Int8ConvWeights& w,
                   bool saturate_pairs, int32_t* y) {
  int8_conv_any(s, x, w, saturate_pairs, y, nullptr, nullptr);
}

void int8_conv_requantized_8bit(const ConvShape& s, const Int8ConvInput& x,
                                const Int8ConvWeights& w, bool saturate_pairs,
                                const Requantization& r, void* y) {
  int8_conv_any(s, x, w, saturate_pairs, nullptr, &r, y);
}

}  // namespace tamp::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tamp::kernels {

HWY_EXPORT(int8_conv_i32);
HWY_EXPORT(int8_conv_requantized_8bit);

void int8_conv(const ConvShape& s, const Int8ConvInput& x, const Int8ConvWeights& w,
               bool saturate_pairs, int32_t* y) {
  TAMP_DISPATCH(int8_conv_i32)(s, x, w, saturate_pairs, y);
}

void int8_conv_requantized(const ConvShape& s, const Int8ConvInput& x, const Int8ConvWeights& w,
                           bool saturate_pairs, const Requantization& r, void* y) {
  TAMP_DISPATCH(int8_conv_requantized_8bit)(s, x, w, saturate_pairs, r, y);
}

}  // namespace tamp::kernels
#endif
