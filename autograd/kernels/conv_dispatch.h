// Internal: the entry points every convolution kernel file exports, written once. In a kernel
// file (see simd_inl.h) whose per-target templates are PREFIX_forward<T> and PREFIX_backward<T>,
//   TAMP_CONV_TARGET_ENTRIES(direct)                 // inside namespace HWY_NAMESPACE
//   TAMP_CONV_EXPORTS(direct, conv_direct)           // under HWY_ONCE, in tamp::kernels
// defines the fp32 / fp64 functions per target and the dispatching conv_direct_forward<T> /
// conv_direct_backward<T> declared in the kernel's header.
#pragma once

#include <tamp/autograd/kernels/conv.h>
#include <tamp/autograd/kernels/dispatch.h>

#include <type_traits>

#define TAMP_CONV_TARGET_ENTRY_PAIR(prefix, T, suffix)                                            \
  void prefix##_forward_##suffix(const ConvShape& s, const T* x, const T* w, const T* bias,       \
                                 T* y) {                                                          \
    prefix##_forward<T>(s, x, w, bias, y);                                                        \
  }                                                                                               \
  void prefix##_backward_##suffix(const ConvShape& s, const T* x, const T* w, const T* dy, T* dx, \
                                  T* dw, T* dbias) {                                              \
    prefix##_backward<T>(s, x, w, dy, dx, dw, dbias);                                             \
  }

#define TAMP_CONV_TARGET_ENTRIES(prefix)          \
  TAMP_CONV_TARGET_ENTRY_PAIR(prefix, float, f32) \
  TAMP_CONV_TARGET_ENTRY_PAIR(prefix, double, f64)

#define TAMP_CONV_EXPORTS(prefix, name)                                                            \
  HWY_EXPORT(prefix##_forward_f32);                                                                \
  HWY_EXPORT(prefix##_forward_f64);                                                                \
  HWY_EXPORT(prefix##_backward_f32);                                                               \
  HWY_EXPORT(prefix##_backward_f64);                                                               \
  template <class T>                                                                               \
  void name##_forward(const ConvShape& s, const T* x, const T* w, const T* bias, T* y) {           \
    if constexpr (std::is_same_v<T, float>)                                                        \
      TAMP_DISPATCH(prefix##_forward_f32)(s, x, w, bias, y);                                       \
    else                                                                                           \
      TAMP_DISPATCH(prefix##_forward_f64)(s, x, w, bias, y);                                       \
  }                                                                                                \
  template <class T> void name##_backward(const ConvShape& s, const T* x, const T* w, const T* dy, \
                                          T* dx, T* dw, T* dbias) {                                \
    if constexpr (std::is_same_v<T, float>)                                                        \
      TAMP_DISPATCH(prefix##_backward_f32)(s, x, w, dy, dx, dw, dbias);                            \
    else                                                                                           \
      TAMP_DISPATCH(prefix##_backward_f64)(s, x, w, dy, dx, dw, dbias);                            \
  }                                                                                                \
  template void name##_forward<float>(const ConvShape&, const float*, const float*, const float*,  \
                                      float*);                                                     \
  template void name##_forward<double>(const ConvShape&, const double*, const double*,             \
                                       const double*, double*);                                    \
  template void name##_backward<float>(const ConvShape&, const float*, const float*, const float*, \
                                       float*, float*, float*);                                    \
  template void name##_backward<double>(const ConvShape&, const double*, const double*,            \
                                        const double*, double*, double*, double*)
