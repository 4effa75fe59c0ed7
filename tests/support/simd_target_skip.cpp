// Linked into the test binaries that ctest runs again once per instruction set (TAMP_SIMD=name,
// tests/CMakeLists.txt): when this CPU cannot run the named one, or it is the CPU's best (the
// default run covers it), the binary exits 77, which those runs count as skipped.
#include <tamp/autograd/error.h>
#include <tamp/autograd/simd_target.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

const bool kSkipChecked = [] {
  const char* env = std::getenv("TAMP_SIMD");
  if (env == nullptr || *env == '\0') return true;
  try {
    const std::string wanted = env;
    unsetenv("TAMP_SIMD");
    const std::string best = tamp::simd_target();
    if (wanted == best) {
      std::fprintf(stderr,
                   "skipped: %s is this CPU's best instruction set, which the default run tests\n",
                   env);
      std::exit(77);
    }
    tamp::set_simd_target(wanted);
  } catch (const tamp::Error& e) {
    std::fprintf(stderr, "skipped: %s\n", e.what());
    std::exit(77);
  }
  return true;
}();

}  // namespace
