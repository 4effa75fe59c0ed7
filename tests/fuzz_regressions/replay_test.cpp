// Replays every input a fuzz target once failed on (tests/fuzz_regressions/TARGET/*, a folder
// that exists once a run found something) and the target's committed seeds through that
// target's own entry point, fuzz/TARGET_fuzzer.cpp compiled with LLVMFuzzerTestOneInput
// renamed to fuzz_TARGET: each must end in success or a tamp::Error (which the target
// catches); a crash, a sanitizer report or another exception fails the test. The regression
// inputs are also seeds of the fuzz runs (fuzz/CMakeLists.txt).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#define TAMP_FUZZ_TARGET(name) extern "C" int fuzz_##name(const uint8_t* data, size_t size);
#include "fuzz_targets.inc"
#undef TAMP_FUZZ_TARGET

namespace tamp::test {
namespace {

namespace fs = std::filesystem;

struct Target {
  std::string name;
  int (*run)(const uint8_t*, size_t);
};

std::vector<Target> targets() {
  return {
#define TAMP_FUZZ_TARGET(name) {#name, fuzz_##name},
#include "fuzz_targets.inc"
#undef TAMP_FUZZ_TARGET
  };
}

fs::path source_dir() {
  const char* root = std::getenv("TAMP_SOURCE_DIR");
  return fs::path(root ? root : TAMP_SOURCE_DIR_DEFAULT);
}

// The committed inputs of one target: its regressions, then seeds in the source tree (the
// test models, TensorProto files and example recipes, or fuzz/seeds/TARGET for the rest).
std::vector<fs::path> replay_dirs(const std::string& target) {
  const fs::path root = source_dir();
  std::vector<fs::path> dirs{root / "tests" / "fuzz_regressions" / target};
  if (target == "onnx_model") dirs.push_back(root / "tests" / "data" / "models");
  if (target == "tensor_proto") dirs.push_back(root / "tests" / "data" / "tensor_proto");
  if (target == "recipe") dirs.push_back(root / "examples" / "recipes");
  dirs.push_back(root / "fuzz" / "seeds" / target);
  return dirs;
}

class FuzzRegression : public ::testing::TestWithParam<Target> {};

TEST_P(FuzzRegression, EveryCommittedInputGivesSuccessOrError) {
  const Target& target = GetParam();
  std::vector<fs::path> files;
  for (const fs::path& dir : replay_dirs(target.name)) {
    if (!fs::is_directory(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
  }
  ASSERT_FALSE(files.empty()) << "no committed inputs for " << target.name;
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) {
    // Printed first: a crash ends the process before gtest can name the input.
    std::cerr << "replaying " << file.string() << std::endl;
    std::ifstream in(file, std::ios::binary);
    const std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(in),
                                     std::istreambuf_iterator<char>()};
    EXPECT_EQ(target.run(bytes.data(), bytes.size()), 0) << file;
  }
}

INSTANTIATE_TEST_SUITE_P(Fuzz, FuzzRegression, ::testing::ValuesIn(targets()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace tamp::test
