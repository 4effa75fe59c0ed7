// simd_target.h: choosing the kernels' instruction set by name, and on ARM64 (the cross build,
// preset arm64, run under qemu-user) the set the build dispatches to: NEON where the CPU
// has what Highway 1.0.3 requires of it (AdvSIMD and the AES extension, HWCAP_AES), and the
// scalar fallback always (autograd/CMakeLists.txt compiles it on ARM); SVE is not compiled.
#include <tamp/autograd/error.h>
#include <tamp/autograd/simd_target.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#if defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace tamp::test {
namespace {

TEST(SimdTarget, ChosenByNameAndBestRestoresTheFirst) {
  const std::string before = simd_target();
  const std::vector<std::string> targets = simd_targets_available();
  ASSERT_FALSE(targets.empty());
  for (const std::string& t : targets) {
    set_simd_target(t);
    EXPECT_EQ(simd_target(), t);
    EXPECT_EQ(simd_targets_available(), targets) << "the list must not depend on the choice";
  }
  set_simd_target("best");
  EXPECT_EQ(simd_target(), targets.front());
  set_simd_target(before);
}

#if defined(__aarch64__)
TEST(SimdTargetArm64, NeonWhereTheCpuHasAesAndScalarAlways) {
  const bool aes = (getauxval(AT_HWCAP) & HWCAP_AES) != 0;
  const std::vector<std::string> expected =
      aes ? std::vector<std::string>{"neon", "scalar"} : std::vector<std::string>{"scalar"};
  EXPECT_EQ(simd_targets_available(), expected);
}

TEST(SimdTargetArm64, SveIsNotBuilt) {
  try {
    set_simd_target("sve");
    FAIL() << "sve was accepted; the kernels assume a lane count fixed at compile time";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput) << e.what();
    EXPECT_NE(e.hint().find("scalar"), std::string::npos)
        << "the hint lists the choices: " << e.hint();
  }
}
#endif

}  // namespace
}  // namespace tamp::test
