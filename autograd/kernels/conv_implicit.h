// Internal: implicit-GEMM convolution for unit-stride 1-D and 2-D layers (the 3x3 body of a
// CNN): no im2col buffer and no GEMM packing. conv.cpp dispatches here when
// conv_implicit_applies. How it reads the input: docs/kernels.md#implicit-gemm-convolution
#pragma once

#include <tamp/autograd/kernels/conv.h>

namespace tamp::kernels {

bool conv_implicit_applies(const ConvShape& s);

template <class T>
void conv_implicit_forward(const ConvShape& s, const T* x, const T* w, const T* bias, T* y);

// As conv_backward: dx, dw, dbias each optional (null), overwritten.
template <class T> void conv_implicit_backward(const ConvShape& s, const T* x, const T* w,
                                               const T* dy, T* dx, T* dw, T* dbias);

}  // namespace tamp::kernels
