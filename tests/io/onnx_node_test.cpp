// ONNX backend node tests (Debian's libonnx-testdata): every test directory is loaded through
// the real importer into a GraphModule (eval mode, no grad), run on each test_data_set_*, and
// compared with its outputs using ONNX's backend tolerances (rtol 1e-3, atol 1e-7 for floats;
// exact for integers and bools).
//
// Each directory ends in one of the four categories of NodeTestCategory (node_test_data.h):
// a fail is a gtest failure; unsupported moves to pass or fail as the ops land, without
// touching this file; skipped tests are listed in excluded_node_tests() with their reason.
// Running the whole suite prints a per-op table (pass/fail/unsupported/skipped) and writes it
// as markdown to $TAMP_NODE_TEST_SUMMARY (default: onnx_node_tests.md next to the binary).
#include "io/node_test_data.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>

namespace tamp::test {
namespace {

namespace fs = std::filesystem;

std::mutex results_mutex;
std::vector<NodeTestOutcome>& results() {
  static std::vector<NodeTestOutcome> r;
  return r;
}

class OnnxNodeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OnnxNodeTest, MatchesReference) {
  const fs::path dir = fs::path(node_test_root()) / GetParam();
  if (!fs::exists(dir / "model.onnx"))
    GTEST_SKIP() << "no ONNX node tests under " << node_test_root();
  NodeTestOutcome o = run_node_test(dir.string());
  {
    std::lock_guard<std::mutex> lock(results_mutex);
    results().push_back(o);
  }
  if (o.category == NodeTestCategory::kSkipped) GTEST_SKIP() << o.detail;
  if (o.category == NodeTestCategory::kUnsupported) GTEST_SKIP() << "unsupported: " << o.detail;
  EXPECT_EQ(o.category, NodeTestCategory::kPass) << o.detail;
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

INSTANTIATE_TEST_SUITE_P(Node, OnnxNodeTest, ::testing::ValuesIn(node_test_dirs()), test_name);

// The per-op table, printed after a run of more than one test.
class SummaryEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    const auto& r = results();
    if (r.size() < 2) return;
    struct Counts {
      int pass = 0, fail = 0, unsupported = 0, skipped = 0;
    };
    std::map<std::string, Counts> per_op;
    Counts total;
    for (const auto& o : r) {
      Counts& c = per_op[o.op];
      switch (o.category) {
        case NodeTestCategory::kPass:
          ++c.pass;
          ++total.pass;
          break;
        case NodeTestCategory::kFail:
          ++c.fail;
          ++total.fail;
          break;
        case NodeTestCategory::kUnsupported:
          ++c.unsupported;
          ++total.unsupported;
          break;
        case NodeTestCategory::kSkipped:
          ++c.skipped;
          ++total.skipped;
          break;
      }
    }
    std::string md = fmt::format(
        "ONNX node tests ({}): {} run, {} pass, {} fail, {} unsupported, {} skipped\n\n"
        "| op | pass | fail | unsupported | skipped |\n|---|---:|---:|---:|---:|\n",
        node_test_root(), r.size(), total.pass, total.fail, total.unsupported, total.skipped);
    for (const auto& [op, c] : per_op) {
      md +=
          fmt::format("| {} | {} | {} | {} | {} |\n", op, c.pass, c.fail, c.unsupported, c.skipped);
    }
    // Failures one by one; skipped and unsupported tests grouped by reason.
    auto list = [&](NodeTestCategory category, bool grouped) {
      std::map<std::string, std::vector<std::string>> by_reason;
      for (const auto& o : r) {
        if (o.category != category) continue;
        if (grouped)
          by_reason[o.detail].push_back(o.test);
        else
          md += fmt::format("- `{}` ({}): {}\n", o.test, o.op, o.detail);
      }
      for (const auto& [reason, tests] : by_reason) {
        std::string names;
        for (const auto& t : tests) names += (names.empty() ? "`" : ", `") + t + "`";
        md += fmt::format("- {} ({}): {}\n", reason, tests.size(), names);
      }
    };
    md += fmt::format("\nFailing ({}):\n\n", total.fail);
    list(NodeTestCategory::kFail, false);
    md += fmt::format("\nSkipped ({}), by reason:\n\n", total.skipped);
    list(NodeTestCategory::kSkipped, true);
    md += fmt::format("\nUnsupported ({}), by reason:\n\n", total.unsupported);
    list(NodeTestCategory::kUnsupported, true);
    std::cout << "\n" << md;
    const char* env = std::getenv("TAMP_NODE_TEST_SUMMARY");
    // By default next to the test binary, so a run from the source tree leaves it clean.
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    const std::string path =
        env ? env
            : (ec ? fs::path("onnx_node_tests.md") : exe.parent_path() / "onnx_node_tests.md")
                  .string();
    std::ofstream(path) << md;
    std::cout << "summary written to " << path << "\n";
  }
};

const auto* const kSummary = ::testing::AddGlobalTestEnvironment(new SummaryEnvironment);

}  // namespace
}  // namespace tamp::test
