// Internal: direct (no im2col, no GEMM) convolution for layers whose GEMM would be skinny:
// a reduction of at most kDirectMaxRows = C/groups * kernel_size per output, such as a first
// layer on one channel (K = 9) or a depthwise layer. 1-D and 2-D, stride 1 along the last
// axis (vectorised along output rows); conv.cpp dispatches here when conv_direct_applies.
#pragma once

#include <tamp/autograd/kernels/conv.h>

namespace tamp::kernels {

inline constexpr int64_t kDirectMaxRows = 32;

bool conv_direct_applies(const ConvShape& s);

template <class T>
void conv_direct_forward(const ConvShape& s, const T* x, const T* w, const T* bias, T* y);

// As conv_backward: dx, dw, dbias each optional (null), overwritten.
template <class T> void conv_direct_backward(const ConvShape& s, const T* x, const T* w,
                                             const T* dy, T* dx, T* dw, T* dbias);

}  // namespace tamp::kernels
