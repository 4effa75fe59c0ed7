// The instruction set tamp's kernels run with. One binary carries kernels for several
// targets (AVX-512 + VNNI, AVX-512, AVX2 + FMA, SSE4, NEON, a portable fallback) and uses
// the best one the CPU has; TAMP_SIMD=<name> in the environment picks a lower one (for
// testing and benchmarking), as does set_simd_target().
//
//   std::string isa = tamp::simd_target();                 // "avx2" on an AVX2 + FMA CPU
//   for (const auto& t : tamp::simd_targets_available()) { tamp::set_simd_target(t); ... }
#pragma once

#include <string>
#include <vector>

namespace tamp {

// The target the kernels use now: avx512_vnni, avx512, avx2, sse4, neon or scalar.
std::string simd_target();

// Every target this build has kernels for that this CPU runs, best first.
std::vector<std::string> simd_targets_available();

// Runs the kernels on `name` from now on (one of simd_targets_available(); "best" restores
// the default). Not safe while kernels run on other threads. Throws tamp::Error for a name
// the build or the CPU lacks.
void set_simd_target(const std::string& name);

}  // namespace tamp
