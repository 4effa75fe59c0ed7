// Internal: a minimal masked-vector layer for hand-written kernels (conv_direct.cpp), so that
// one kernel body serves float and double: AVX-512 where the build has it, one lane otherwise.
//
//   using S = Simd<float>;
//   S::Mask m = S::first(n);                      // lanes [0, n) of S::kLanes; range(lo, hi)
//   S::Vec v = S::load(m, p);                     // masked-off lanes read as zero, never fault
//   S::store(m, q, S::fma(S::set1(2), v, acc));   // q[i] = 2 * p[i] + acc[i] for i < n
#pragma once

#include <cstdint>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace tamp::kernels {

template <class T>
struct Simd;

#ifdef __AVX512F__

template <>
struct Simd<float> {
  using Vec = __m512;
  using Mask = __mmask16;
  static constexpr int kLanes = 16;
  static Mask first(int64_t n) {
    return n >= kLanes ? Mask(0xFFFF) : n <= 0 ? Mask(0) : static_cast<Mask>((1u << n) - 1);
  }
  static Mask range(int64_t lo, int64_t hi) { return static_cast<Mask>(first(hi) & ~first(lo)); }
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec set1(float v) { return _mm512_set1_ps(v); }
  static Vec load(Mask m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(Mask m, float* p, Vec v) { _mm512_mask_storeu_ps(p, m, v); }
  static Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
  static Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  // Not _mm512_reduce_add_ps: GCC 12's version trips -Wuninitialized inside its own header.
  static float sum(Vec v) {
    alignas(64) float lanes[kLanes];
    _mm512_store_ps(lanes, v);
    float total = 0;
    for (float l : lanes) total += l;
    return total;
  }
};

template <>
struct Simd<double> {
  using Vec = __m512d;
  using Mask = __mmask8;
  static constexpr int kLanes = 8;
  static Mask first(int64_t n) {
    return n >= kLanes ? Mask(0xFF) : n <= 0 ? Mask(0) : static_cast<Mask>((1u << n) - 1);
  }
  static Mask range(int64_t lo, int64_t hi) { return static_cast<Mask>(first(hi) & ~first(lo)); }
  static Vec zero() { return _mm512_setzero_pd(); }
  static Vec set1(double v) { return _mm512_set1_pd(v); }
  static Vec load(Mask m, const double* p) { return _mm512_maskz_loadu_pd(m, p); }
  static void store(Mask m, double* p, Vec v) { _mm512_mask_storeu_pd(p, m, v); }
  static Vec add(Vec a, Vec b) { return _mm512_add_pd(a, b); }
  static Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_pd(a, b, c); }
  // As for float.
  static double sum(Vec v) {
    alignas(64) double lanes[kLanes];
    _mm512_store_pd(lanes, v);
    double total = 0;
    for (double l : lanes) total += l;
    return total;
  }
};

#else

// One lane: the same kernels, scalar.
template <class T>
struct ScalarSimd {
  using Vec = T;
  using Mask = bool;
  static constexpr int kLanes = 1;
  static Mask first(int64_t n) { return n > 0; }
  static Mask range(int64_t lo, int64_t hi) { return lo <= 0 && hi > 0; }
  static Vec zero() { return T(0); }
  static Vec set1(T v) { return v; }
  static Vec load(Mask m, const T* p) { return m ? *p : T(0); }
  static void store(Mask m, T* p, Vec v) {
    if (m) *p = v;
  }
  static Vec add(Vec a, Vec b) { return a + b; }
  static Vec fma(Vec a, Vec b, Vec c) { return a * b + c; }
  static T sum(Vec v) { return v; }
};
template <>
struct Simd<float> : ScalarSimd<float> {};
template <>
struct Simd<double> : ScalarSimd<double> {};

#endif

// Lanes j of a vector starting at element `offset` whose element offset + j lies in [0, size).
template <class S>
typename S::Mask lanes_inside(int64_t offset, int64_t size) {
  const int64_t lo = offset < 0 ? -offset : 0;
  const int64_t hi = size - offset;
  return hi <= lo ? S::first(0) : S::range(lo, hi);
}

}  // namespace tamp::kernels
