// Requantization (requantize.h), compiled once per instruction set: a vector of sums at a
// time, along the inner positions of one channel (a convolution's output plane) or, when
// inner is 1, along the channels themselves (a matrix product's row). Highway's Round rounds
// ties to even, as std::nearbyint does in the default rounding mode.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tamp/autograd/kernels/requantize.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>
#include <tamp/autograd/kernels/dispatch.h>
#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/kernels/requantize.h>
#include <tamp/autograd/kernels/simd_inl.h>

#include <algorithm>
#include <cstring>

HWY_BEFORE_NAMESPACE();
namespace tamp::kernels::HWY_NAMESPACE {
namespace {

using I = Simd<int32_t>;
using F = Simd<float>;
constexpr int64_t kL = I::kLanes;
constexpr int64_t kGrain = 1 << 15;  // sums per thread at least: less is not worth waking one

// y[0, n) from acc[0, n), the bias and multiplier of lane j at bias[j * step] and
// multipliers[j * step] (step 0: one for all).
template <class T8> void requantize_run(const int32_t* acc, int64_t n, const int32_t* bias,
                                        int64_t bias_step, const float* multipliers,
                                        int64_t multiplier_step, F::Vec zero_point, F::Vec lo,
                                        F::Vec hi, T8* y) {
  const hn::Rebind<T8, I::D> d8;
  for (int64_t j = 0; j < n; j += kL) {
    const int64_t lanes = n - j;
    I::Vec sum = I::load_first(acc + j, lanes);
    if (bias) sum = hn::Add(sum, bias_step ? I::load_first(bias + j, lanes) : I::set1(*bias));
    const F::Vec m =
        multiplier_step ? F::load_first(multipliers + j, lanes) : F::set1(*multipliers);
    F::Vec v = hn::Add(hn::Round(hn::Mul(hn::ConvertTo(F::D(), sum), m)), zero_point);
    v = hn::Min(hn::Max(v, lo), hi);
    const auto q = hn::DemoteTo(d8, hn::ConvertTo(I::D(), v));
    if (lanes >= kL) {
      hn::StoreU(q, d8, y + j);
    } else {
      T8 buf[kL];
      hn::StoreU(q, d8, buf);
      std::memcpy(y + j, buf, static_cast<size_t>(lanes) * sizeof(T8));
    }
  }
}

template <class T8> void requantize_typed(const int32_t* acc, int64_t outer, int64_t channels,
                                          int64_t inner, const Requantization& r, T8* y) {
  const F::Vec zp = F::set1(static_cast<float>(r.zero_point));
  const F::Vec lo = F::set1(r.is_signed ? -128.0f : 0.0f),
               hi = F::set1(r.is_signed ? 127.0f : 255.0f);
  const int64_t step = r.per_channel ? 1 : 0;
  parallel_for(outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, channels * inner)),
               [&](int64_t o0, int64_t o1) {
                 for (int64_t o = o0; o < o1; ++o) {
                   const int64_t at = o * channels * inner;
                   if (inner == 1) {  // channels along the lanes
                     requantize_run(acc + at, channels, r.bias, 1, r.multipliers, step, zp, lo, hi,
                                    y + at);
                     continue;
                   }
                   for (int64_t c = 0; c < channels; ++c) {
                     requantize_run(acc + at + c * inner, inner, r.bias ? r.bias + c : nullptr, 0,
                                    r.multipliers + c * step, 0, zp, lo, hi, y + at + c * inner);
                   }
                 }
               });
}

}  // namespace

void requantize_i32(const int32_t* acc, int64_t outer, int64_t channels, int64_t inner,
                    const Requantization& r, void* y) {
  if (r.is_signed) {
    requantize_typed(acc, outer, channels, inner, r, static_cast<int8_t*>(y));
  } else {
    requantize_typed(acc, outer, channels, inner, r, static_cast<uint8_t*>(y));
  }
}

}  // namespace tamp::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tamp::kernels {

HWY_EXPORT(requantize_i32);

void requantize(const int32_t* acc, int64_t outer, int64_t channels, int64_t inner,
                const Requantization& r, void* y) {
  TAMP_DISPATCH(requantize_i32)(acc, outer, channels, inner, r, y);
}

}  // namespace tamp::kernels
#endif
