#include <tamp/autograd/error.h>
#include <tamp/autograd/integer_arithmetic.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <cstdint>
#include <string>

namespace tamp {

namespace {

// The CPU features MLAS's platform.cpp reads to pick its uint8 x int8 GEMM kernel.
struct X86Features {
  bool x86 = false;
  bool avx2 = false;  // with FMA and the OS saving AVX state: the AVX2 kernels
  bool avx_vnni = false;
  bool avx512_core = false;  // AVX512 F, BW, DQ, VL and the OS saving their state
  bool avx512_vnni = false;
  bool amx_int8 = false;
};

X86Features read_x86_features() {
  X86Features f;
#if defined(__x86_64__) || defined(__i386__)
  f.x86 = true;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool fma = (c & (1u << 12)) != 0;
  if ((c & 0x18000000u) != 0x18000000u) return f;  // AVX and OSXSAVE
  unsigned xcr0_lo = 0, xcr0_hi = 0;
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  const uint64_t xcr0 = (static_cast<uint64_t>(xcr0_hi) << 32) | xcr0_lo;
  if ((xcr0 & 0x6) != 0x6) return f;
  unsigned a7 = 0, b7 = 0, c7 = 0, d7 = 0;
  if (!__get_cpuid_count(7, 0, &a7, &b7, &c7, &d7)) return f;
  f.avx2 = fma && (b7 & (1u << 5)) != 0;
  if (!f.avx2) return f;
  unsigned a71 = 0, b71 = 0, c71 = 0, d71 = 0;
  __get_cpuid_count(7, 1, &a71, &b71, &c71, &d71);
  f.avx_vnni = (a71 & (1u << 4)) != 0;
  const bool avx512f = (b7 & (1u << 16)) != 0 && (xcr0 & 0xE0) == 0xE0;
  f.avx512_core = avx512f && (b7 & 0xC0020000u) == 0xC0020000u;
  f.avx512_vnni = f.avx512_core && (c7 & (1u << 11)) != 0;
  f.amx_int8 = (d7 & (1u << 24)) != 0 && (d7 & (1u << 25)) != 0 && (xcr0 & 0x60000) == 0x60000;
#endif
  return f;
}

const X86Features& x86_features() {
  static const X86Features f = read_x86_features();
  return f;
}

}  // namespace

std::string_view integer_arithmetic_name(IntegerArithmetic a) {
  return a == IntegerArithmetic::kExact ? "exact" : "avx2";
}

IntegerArithmetic integer_arithmetic_from_name(std::string_view name) {
  if (name == "exact") return IntegerArithmetic::kExact;
  if (name == "avx2") return IntegerArithmetic::kX86Int16Pairs;
  throw Error(fmt::format("unknown integer arithmetic '{}' (exact, avx2)", name),
              ErrorKind::kInvalidInput);
}

IntegerArithmetic host_integer_arithmetic() {
  const X86Features& f = x86_features();
  if (!f.avx2 || f.amx_int8) return IntegerArithmetic::kExact;
  // MLAS: the AVX-VNNI kernel, replaced by the AVX-512 core one (vpmaddubsw again) on CPUs
  // with AVX-512 BW, itself replaced by the AVX512-VNNI one.
  const bool vnni = f.avx512_core ? f.avx512_vnni : f.avx_vnni;
  return vnni ? IntegerArithmetic::kExact : IntegerArithmetic::kX86Int16Pairs;
}

std::string_view host_integer_features() {
  static const std::string text = [] {
    const X86Features& f = x86_features();
    if (!f.x86) return std::string("not x86 (ONNX Runtime's integer kernels are exact there)");
    if (!f.avx2)
      return std::string("x86 without AVX2 (ONNX Runtime's SSE integer kernels are exact)");
    std::string s = f.avx512_core ? "x86-64 AVX2, AVX-512" : "x86-64 AVX2";
    std::string has, lacks;
    for (auto [on, name] :
         {std::pair{f.avx_vnni, "AVX-VNNI"}, std::pair{f.avx512_vnni, "AVX512-VNNI"},
          std::pair{f.amx_int8, "AMX-INT8"}}) {
      (on ? has : lacks) +=
          (on ? (has.empty() ? "" : ", ") : (lacks.empty() ? "" : "/")) + std::string(name);
    }
    if (!has.empty()) s += ", " + has;
    if (!lacks.empty()) s += ", no " + lacks;
    return s;
  }();
  return text;
}

}  // namespace tamp
