// What ONNX Runtime's integer kernels compute on the CPU the tests run on, for tests that
// hold on some CPUs only: the vnni export target is exact where uint8 x int8 products are
// (VNNI, AMX), and ORT saturates int16 pairs on x86 with AVX2 and without them.
//
//   if (const std::string why = test::skip_unless_uint8_int8_exact(); !why.empty()) GTEST_SKIP() <<
//   why;
#pragma once

#include <tamp/autograd/integer_arithmetic.h>

#include <string>

namespace tamp::test {

// True on an x86 CPU whose ORT uint8 x int8 kernels saturate int16 pairs (AVX2, no VNNI).
inline bool host_saturates_int16_pairs() {
  return host_integer_arithmetic() == IntegerArithmetic::kX86Int16Pairs;
}

// "" when ORT computes uint8 x int8 exactly here on x86 (VNNI or AMX); else why a vnni-target
// test cannot pass on this CPU.
inline std::string skip_unless_uint8_int8_exact() {
  const std::string features(host_integer_features());
  if (host_saturates_int16_pairs()) {
    return "this CPU (" + features +
           ") has no VNNI: ONNX Runtime saturates uint8 x int8 pair sums to int16, so a "
           "full-range int8 (vnni target) model computes differently here; the portable-target "
           "cases cover it";
  }
  if (features.rfind("x86-64", 0) != 0) {
    return "this CPU (" + features +
           ") is not an x86 CPU with AVX2 and VNNI: the vnni target makes no promise here";
  }
  return "";
}

// "" when ONNX Runtime's float kernels here are MLAS's AVX2 + FMA ones (x86 with AVX2 and FMA,
// without AVX-512F, which takes MLAS's AVX-512 kernels); else why a test of them is skipped.
inline std::string skip_unless_mlas_avx2_float_kernels() {
#if defined(__x86_64__) || defined(__i386__)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      !__builtin_cpu_supports("avx512f"))
    return "";
#endif
  return "ONNX Runtime's float kernels on this CPU (" + std::string(host_integer_features()) +
         ") are not MLAS's AVX2 + FMA ones (x86 with AVX2 and FMA, no AVX-512F) that tamp models";
}

}  // namespace tamp::test
