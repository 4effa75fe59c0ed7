// Internal: the integer convolution of ConvInteger and QLinearConv, by im2col of the 8-bit
// input and the integer GEMM (int8_gemm.h), parallel over the batch. The reduction runs in
// (kernel offset, input channel) order, the order ONNX Runtime packs its filters in, so that
// saturate_pairs pairs products as its kernels do; padding reads the input's zero point.
//
//   kernels::int8_conv(shape, {x, true, 3}, {w, true, w_zero_points.data()}, false, y);
#pragma once

#include <tamp/autograd/kernels/conv.h>
#include <tamp/autograd/kernels/requantize.h>

#include <cstdint>

namespace tamp::kernels {

struct Int8ConvInput {
  const void* data;  // (N, C, in...)
  bool is_signed;
  int32_t zero_point;
};

struct Int8ConvWeights {
  const void* data;  // (M, C / groups, kernel...)
  bool is_signed;
  const int32_t* zero_points;  // (M)
};

// y (N, M, out...) = the int32 sums of conv(x - x_zero_point, w - w_zero_points[m]).
void int8_conv(const ConvShape& s, const Int8ConvInput& x, const Int8ConvWeights& w,
               bool saturate_pairs, int32_t* y);

// The same sums requantized (channel m: r.bias[m], r.multipliers[m]) into the 8-bit y while
// they are in cache: QLinearConv without an int32 tensor of the whole output.
void int8_conv_requantized(const ConvShape& s, const Int8ConvInput& x, const Int8ConvWeights& w,
                           bool saturate_pairs, const Requantization& r, void* y);

}  // namespace tamp::kernels
