// Internal: the vector layer of tamp's kernels, one copy per instruction set (Google
// Highway): <hwy/foreach_target.h> re-includes it once per target, hence the toggle below
// instead of an include guard. Details: docs/kernels.md#layout
//
//   using S = Simd<float>;                        // inside namespace HWY_NAMESPACE
//   S::Vec t = S::load_first(p + i, n - i);       // the first n - i lanes, zero past them
//   S::store(q, S::fma(S::set1(2), S::load(p), t));   // q[i] = 2 * p[i] + t[i]
#if defined(TAMP_AUTOGRAD_KERNELS_SIMD_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TAMP_AUTOGRAD_KERNELS_SIMD_INL_H_
#undef TAMP_AUTOGRAD_KERNELS_SIMD_INL_H_
#else
#define TAMP_AUTOGRAD_KERNELS_SIMD_INL_H_
#endif

#include <hwy/highway.h>

#include <cstdint>
#include <cstring>

HWY_BEFORE_NAMESPACE();
namespace tamp::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Vector registers of the target: register tiles are sized to fit them.
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
constexpr int kVectorRegisters = 32;
#elif HWY_ARCH_ARM
constexpr int kVectorRegisters = 32;
#else
constexpr int kVectorRegisters = 16;
#endif

// Whether a masked load or store touches only the lanes it keeps (AVX2's vmaskmov, AVX-512
// masks). Elsewhere a partial vector goes through a small buffer so no byte past the end is
// read or written (Highway 1.0's MaskedLoad reads the whole vector there).
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
constexpr bool kNativePartialLoad = true;
#else
constexpr bool kNativePartialLoad = false;
#endif
// AVX2's masked store (vmaskmovps to memory) is microcoded on AMD Zen; AVX-512's is not.
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
constexpr bool kNativePartialStore = true;
#else
constexpr bool kNativePartialStore = false;
#endif

template <class T> struct Simd {
  using D = hn::ScalableTag<T>;
  using Vec = hn::Vec<D>;
  // Fixed-width targets only (SVE and RVV are disabled in the build): lanes are a constant.
  static constexpr int kLanes = static_cast<int>(hn::MaxLanes(D()));

  static Vec zero() { return hn::Zero(D()); }
  static Vec set1(T v) { return hn::Set(D(), v); }
  static Vec load(const T* p) { return hn::LoadU(D(), p); }
  static void store(T* p, Vec v) { hn::StoreU(v, D(), p); }
  static Vec add(Vec a, Vec b) { return hn::Add(a, b); }
  static Vec mul(Vec a, Vec b) { return hn::Mul(a, b); }
  static Vec fma(Vec a, Vec b, Vec c) { return hn::MulAdd(a, b, c); }  // a * b + c
  static T sum(Vec v) { return hn::GetLane(hn::SumOfLanes(D(), v)); }

  // Lanes [0, n) from p (n < kLanes allowed, n <= 0 gives zero); nothing past p + n is read.
  static Vec load_first(const T* p, int64_t n) {
    if (n >= kLanes) return load(p);
    if constexpr (kNativePartialLoad) {
      return hn::MaskedLoad(hn::FirstN(D(), n > 0 ? static_cast<size_t>(n) : 0), D(), p);
    } else {
      HWY_ALIGN T buf[kLanes] = {};
      if (n > 0) std::memcpy(buf, p, static_cast<size_t>(n) * sizeof(T));
      return hn::Load(D(), buf);
    }
  }
  // The first n lanes of v, the others `fill`.
  static Vec first_or(Vec v, int64_t n, Vec fill) {
    if (n >= kLanes) return v;
    return hn::IfThenElse(hn::FirstN(D(), n > 0 ? static_cast<size_t>(n) : 0), v, fill);
  }
  // f(i, lanes) for i = begin, begin + kLanes, ... < end, lanes = min(kLanes, end - i): a
  // loop over whole vectors that finishes with a partial one (load_first / store_first).
  template <class F> static void for_vectors(int64_t begin, int64_t end, F&& f) {
    int64_t i = begin;
    for (; i + kLanes <= end; i += kLanes) f(i, int64_t{kLanes});
    if (i < end) f(i, end - i);
  }
  // Lanes [0, n) of v to p; nothing past p + n is written.
  static void store_first(T* p, Vec v, int64_t n) {
    if (n >= kLanes) return store(p, v);
    if (n <= 0) return;
    if constexpr (kNativePartialStore) {
      hn::BlendedStore(v, hn::FirstN(D(), static_cast<size_t>(n)), D(), p);
    } else {
      HWY_ALIGN T buf[kLanes];
      hn::Store(v, D(), buf);
      std::memcpy(p, buf, static_cast<size_t>(n) * sizeof(T));
    }
  }
};

}  // namespace tamp::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // TAMP_AUTOGRAD_KERNELS_SIMD_INL_H_ toggle
