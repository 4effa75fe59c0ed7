// Internal: grouped 1-D/2-D/3-D convolution on raw NC(D)(H)W buffers, by im2col + GEMM,
// parallel over the batch. The same three routines serve Conv and ConvTranspose (whose
// forward is the data gradient of a Conv, and whose data gradient is a Conv forward).
//
// Geometry in "conv" orientation: output position o and kernel offset k read input position
// o * stride - pad + k * dilation; positions outside [0, in) read zero. Pads may be negative
// (ConvTranspose with an explicit output_shape) and the output size is given, not derived.
#pragma once

#include <cstdint>

namespace tamp::kernels {

struct ConvShape {
  int64_t batch = 0;
  int64_t in_channels = 0;   // C; W is (out_channels, C / groups, kernel...)
  int64_t out_channels = 0;  // M
  int64_t groups = 1;
  // Spatial dims, left-padded to three (a 2-D conv has in[0] = out[0] = kernel[0] = 1).
  int64_t in[3] = {1, 1, 1};
  int64_t out[3] = {1, 1, 1};
  int64_t kernel[3] = {1, 1, 1};
  int64_t stride[3] = {1, 1, 1};
  int64_t dilation[3] = {1, 1, 1};
  int64_t pad[3] = {0, 0, 0};  // at the start of each dim

  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
  int64_t kernel_size() const { return kernel[0] * kernel[1] * kernel[2]; }
};

// Output planes of fewer positions (a ResNet's last stages on small images: 4x4 ... 1x1) are
// computed for several images in one GEMM (im2col side by side), whatever the kernel: a GEMM
// per image would be a few columns wide.
inline constexpr int64_t kSmallPlane = 64;

// y (N, M, out) = conv(x (N, C, in), w) + bias (M, may be null).
template <class T>
void conv_forward(const ConvShape& s, const T* x, const T* w, const T* bias, T* y);

// From dy (N, M, out): dx (N, C, in) when non-null (overwritten), dw (M, C/groups, kernel)
// when non-null (overwritten; needs x), dbias (M) when non-null (overwritten).
template <class T>
void conv_backward(const ConvShape& s, const T* x, const T* w, const T* dy, T* dx, T* dw, T* dbias);

}  // namespace tamp::kernels
