// Internal: implicit-GEMM convolution for unit-stride 1-D and 2-D layers (the 3x3 body of a
// CNN): no im2col buffer and no GEMM packing. conv.cpp dispatches here when
// conv_implicit_applies.
//
// The trick: pad each input image into a window of width wp = out_w + (kernel_w - 1) * dilation_w
// and compute outputs for all wp columns of every output row. Then output position
// p = o * wp + j reads window element off[r] + p for reduction row r: every row of the
// virtual im2col matrix is a contiguous slice of the window. The (kernel_w - 1) * dilation_w
// extra columns per row are computed and dropped (15 % extra work on 13-wide inputs, 7 % on
// 28-wide ones), which costs less than writing and packing an im2col matrix.
#pragma once

#include <tamp/autograd/kernels/conv.h>

namespace tamp::kernels {

bool conv_implicit_applies(const ConvShape& s);

template <class T>
void conv_implicit_forward(const ConvShape& s, const T* x, const T* w, const T* bias, T* y);

// As conv_backward: dx, dw, dbias each optional (null), overwritten.
template <class T>
void conv_implicit_backward(const ConvShape& s, const T* x, const T* w, const T* dy, T* dx, T* dw,
                            T* dbias);

}  // namespace tamp::kernels
