// The PyTorch-exported operator tests of Debian's libonnx-testdata (data/pytorch-operator and
// data/pytorch-converted: torch.nn modules and functions exported at opset 6, run like the
// node tests). Each folder is a test of its own, and one test holds the pass rate over all of
// them to at least 97 %, naming every folder that does not pass and why.
#include "io/node_test_data.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>

namespace tamp::test {
namespace {

namespace fs = std::filesystem;

constexpr double kMinPassRate = 0.97;

std::vector<std::string> pytorch_test_dirs() {
  std::vector<std::string> out;
  for (const char* suite : {"pytorch-operator", "pytorch-converted"}) {
    const fs::path root = fs::path(onnx_test_data_root()) / suite;
    for (const auto& name : node_test_dirs(root.string())) {
      if (fs::exists(root / name / "model.onnx")) out.push_back((root / name).string());
    }
  }
  if (out.empty()) out.push_back("no_pytorch_tests_found");
  return out;
}

class PytorchOperatorTest : public ::testing::TestWithParam<std::string> {};

TEST_P(PytorchOperatorTest, MatchesReference) {
  if (!fs::exists(fs::path(GetParam()) / "model.onnx"))
    GTEST_SKIP() << "no tests under " << onnx_test_data_root();
  const NodeTestOutcome o = run_node_test(GetParam());
  EXPECT_EQ(o.category, NodeTestCategory::kPass) << o.detail;
}

INSTANTIATE_TEST_SUITE_P(Torch, PytorchOperatorTest, ::testing::ValuesIn(pytorch_test_dirs()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           const fs::path p(info.param);
                           std::string name =
                               p.parent_path().filename().string() + "_" + p.filename().string();
                           for (char& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

TEST(PytorchOperatorTests, PassRateIsAtLeast97Percent) {
  const auto dirs = pytorch_test_dirs();
  if (!fs::exists(fs::path(dirs.front()) / "model.onnx"))
    GTEST_SKIP() << "no tests under " << onnx_test_data_root();
  int passed = 0;
  std::string others;
  for (const auto& dir : dirs) {
    const NodeTestOutcome o = run_node_test(dir);
    if (o.category == NodeTestCategory::kPass)
      ++passed;
    else
      others += fmt::format("\n  {}/{}: {}", fs::path(dir).parent_path().filename().string(),
                            o.test, o.detail);
  }
  const double rate = static_cast<double>(passed) / static_cast<double>(dirs.size());
  std::cout << fmt::format("PyTorch operator tests: {} of {} pass ({:.1f} %){}\n", passed,
                           dirs.size(), 100 * rate, others);
  EXPECT_GE(rate, kMinPassRate) << "not passing:" << others;
}

}  // namespace
}  // namespace tamp::test
