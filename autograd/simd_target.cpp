#include <tamp/autograd/error.h>
#include <tamp/autograd/kernels/dispatch.h>
#include <tamp/autograd/simd_target.h>

#include <hwy/highway.h>
#include <hwy/targets.h>

#include <cstdlib>
#include <mutex>

namespace tamp {

namespace {

// tamp's names of Highway's targets; the kernel files are compiled for HWY_TARGETS (the same
// compile definitions as this file).
struct Named {
  int64_t target;
  const char* name;
};
constexpr Named kNames[] = {
#if HWY_ARCH_X86
    {HWY_AVX3_DL, "avx512_vnni"}, {HWY_AVX3, "avx512"},   {HWY_AVX2, "avx2"},
    {HWY_SSE4, "sse4"},           {HWY_SSSE3, "ssse3"},
#elif HWY_ARCH_ARM
    {HWY_SVE2, "sve2"},     {HWY_SVE, "sve"},       {HWY_NEON, "neon"},
#endif
    {HWY_EMU128, "scalar"},       {HWY_SCALAR, "scalar"},
};

std::string name_of(int64_t target) {
  for (const Named& n : kNames) {
    if (n.target == target) return n.name;
  }
  return hwy::TargetName(target);
}

// Targets compiled in and supported by the CPU, ignoring any choice made so far.
int64_t runnable_targets() {
  hwy::DisableTargets(0);
  return hwy::SupportedTargets() & HWY_TARGETS;
}

std::string list(int64_t targets) {
  std::string out;
  for (int64_t t = targets; t != 0; t &= t - 1) out += (out.empty() ? "" : ", ") + name_of(t & -t);
  return out;
}

void choose(const std::string& name, const char* origin) {
  const int64_t runnable = runnable_targets();
  if (name == "best") return;
  for (const Named& n : kNames) {
    if (name != n.name || (n.target & HWY_TARGETS) == 0) continue;
    if ((n.target & runnable) == 0) {
      throw Error(fmt::format("{}: this CPU cannot run '{}'", origin, name),
                  ErrorKind::kUnsupported, fmt::format("choose one of: {}", list(runnable)));
    }
    hwy::DisableTargets(n.target - 1);  // every better target (lower bits are better)
    return;
  }
  throw Error(fmt::format("{}: unknown instruction set '{}'", origin, name),
              ErrorKind::kInvalidInput, fmt::format("choose one of: best, {}", list(runnable)));
}

}  // namespace

std::string simd_target() {
  kernels::apply_simd_environment();
  const int64_t targets = hwy::SupportedTargets() & HWY_TARGETS;
  return name_of(targets & -targets);
}

std::vector<std::string> simd_targets_available() {
  const std::string current = simd_target();
  std::vector<std::string> out;
  for (int64_t t = runnable_targets(); t != 0; t &= t - 1) out.push_back(name_of(t & -t));
  choose(current, "set_simd_target");
  return out;
}

void set_simd_target(const std::string& name) {
  kernels::apply_simd_environment();
  choose(name, "set_simd_target");
}

namespace kernels {

void apply_simd_environment() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* env = std::getenv("TAMP_SIMD");
    if (env && *env) choose(env, "TAMP_SIMD");
  });
}

}  // namespace kernels

}  // namespace tamp
