// ONNX backend node tests (Debian's libonnx-testdata): every test directory is loaded through
// the real importer into a GraphModule (eval mode, no grad), run on each test_data_set_*, and
// compared with its outputs using ONNX's backend tolerances (rtol 1e-3, atol 1e-7 for floats;
// exact for integers and bools).
//
// Each directory ends in one of four categories:
//   pass         the outputs match;
//   fail         an error tamp should not raise, or outputs that differ (a gtest failure);
//   unsupported  tamp lacks the op, the dtype or the value kind (kUnsupported): it moves to
//                pass or fail as the ops land, without touching this file;
//   skipped      listed in kExcluded below with its reason, or written for an opset older
//                than 11 that tamp has no definition for.
// Running the whole suite prints a per-op table (pass/fail/unsupported/skipped) and writes it
// as markdown to $TAMP_NODE_TEST_SUMMARY (default: onnx_node_tests.md next to the binary).
#include <tamp/autograd/op.h>
#include <tamp/autograd/variable.h>
#include <tamp/io/onnx_import.h>
#include <tamp/io/tensor_proto.h>

#include "io/node_test_data.h"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <regex>

namespace tamp::test {
namespace {

namespace fs = std::filesystem;

// Tests that cannot pass whatever tamp implements, with the reason.
const std::map<std::string, std::string>& excluded() {
  static const std::map<std::string, std::string> list = {
      // Random outputs: the expected values come from numpy's generator, not tamp's.
      {"test_bernoulli", "random output"},
      {"test_bernoulli_double", "random output"},
      {"test_bernoulli_double_expanded", "random output"},
      {"test_bernoulli_expanded", "random output"},
      {"test_bernoulli_seed", "random output (numpy's generator)"},
      {"test_bernoulli_seed_expanded", "random output (numpy's generator)"},
      {"test_training_dropout", "random output (dropout mask in training mode)"},
      {"test_training_dropout_default", "random output (dropout mask in training mode)"},
      {"test_training_dropout_default_mask", "random output (dropout mask in training mode)"},
      {"test_training_dropout_mask", "random output (dropout mask in training mode)"},
      // onnx 1.12 made the expected bfloat16 values by truncation; tamp rounds to nearest
      // even, as ONNX Runtime, PyTorch and onnx >= 1.14 do.
      {"test_cast_FLOAT_to_BFLOAT16", "expected data truncates to bfloat16 instead of rounding"},
      {"test_castlike_FLOAT_to_BFLOAT16", "expected data truncates to bfloat16 instead of rounding"},
      {"test_castlike_FLOAT_to_BFLOAT16_expanded", "expected data truncates to bfloat16 instead of rounding"},
      // The model declares input 'like' as [3, 4] but its test data is [1] (onnx 1.12 bug).
      {"test_castlike_BFLOAT16_to_FLOAT", "model declares 'like' [3, 4], data is [1]"},
      {"test_castlike_BFLOAT16_to_FLOAT_expanded", "model declares 'like' [3, 4], data is [1]"},
  };
  return list;
}

enum class Category { kPass, kFail, kUnsupported, kSkipped };

struct Outcome {
  std::string test;
  std::string op;
  Category category;
  std::string detail;
};

std::mutex results_mutex;
std::vector<Outcome>& results() {
  static std::vector<Outcome> r;
  return r;
}

onnx::ModelProto read_model_proto(const fs::path& path) {
  onnx::ModelProto m;
  std::ifstream in(path, std::ios::binary);
  m.ParseFromIstream(&in);
  return m;
}

// The op a test exercises: its node's op type, "Op (expanded)" for the function-expanded
// variants (named after the test they expand), else the distinct op types joined.
std::string op_of(const std::string& test) {
  const std::string suffix = "_expanded";
  const bool expanded = test.size() > suffix.size() && test.ends_with(suffix);
  const std::string base = expanded ? test.substr(0, test.size() - suffix.size()) : test;
  const fs::path base_dir = fs::path(node_test_root()) / base;
  const onnx::ModelProto m = read_model_proto(fs::exists(base_dir) ? base_dir / "model.onnx"
                                                                   : fs::path(node_test_root()) / test / "model.onnx");
  std::vector<std::string> ops;
  for (const auto& n : m.graph().node()) {
    if (n.op_type() != "Constant" && std::find(ops.begin(), ops.end(), n.op_type()) == ops.end()) ops.push_back(n.op_type());
  }
  std::string op;
  for (const auto& o : ops) op += (op.empty() ? "" : "+") + o;
  if (op.empty()) op = "Constant";
  return expanded ? op + " (expanded)" : op;
}

int64_t default_opset(const std::string& test) {
  const onnx::ModelProto m = read_model_proto(fs::path(node_test_root()) / test / "model.onnx");
  for (const auto& o : m.opset_import()) if (o.domain().empty() || o.domain() == "ai.onnx") return o.version();
  return 0;
}

// Empty when `got` matches `want`, else what differs.
std::string compare(const Tensor& got, const Tensor& want) {
  if (got.dtype() != want.dtype() || got.shape() != want.shape()) {
    return fmt::format("got {}, expected {}", describe(got), describe(want));
  }
  const bool exact = !is_floating(want.dtype());
  constexpr double kRtol = 1e-3, kAtol = 1e-7;
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double g = got.at(i), w = want.at(i);
    bool ok;
    if (exact) ok = g == w;
    else if (std::isnan(w)) ok = std::isnan(g);
    else if (std::isinf(w)) ok = g == w;
    else ok = std::abs(g - w) <= kAtol + kRtol * std::abs(w);
    if (!ok && bad++ == 0) first = i;
  }
  if (bad == 0) return {};
  return fmt::format("{} of {} elements differ; first at flat index {}: got {}, expected {}", bad, want.numel(),
                     first, got.at(first), want.at(first));
}

// One line for the summary: without the "loading '<path>': " prefix and the hint, the
// list of missing ops reduced to their names.
std::string short_message(const Error& e) {
  std::string s = e.message();
  if (s.find("use ops tamp does not support") != std::string::npos) {
    static const std::regex missing(R"(: (\w+) \(domain ([^,]+), opset (\d+)\))");
    std::string ops;
    for (std::sregex_iterator it(s.begin(), s.end(), missing), end; it != end; ++it) {
      const std::string op = (*it)[2] == "ai.onnx" ? (*it)[1].str() : (*it)[2].str() + "." + (*it)[1].str();
      const std::string entry = op + " (opset " + (*it)[3].str() + ")";
      if (ops.find(entry) == std::string::npos) ops += (ops.empty() ? "" : ", ") + entry;
    }
    return "no op " + ops;
  }
  s = e.what();
  const std::string marker = "model.onnx': ";
  if (auto at = s.find(marker); at != std::string::npos) s = s.substr(at + marker.size());
  s = s.substr(0, s.find("\nhint: "));
  for (char& c : s) if (c == '\n') c = ' ';
  return s;
}

// True when tamp implements every op of the test at its newest opset, so only the test's
// old opset is missing.
bool ops_known_at_newest_opset(const std::string& test) {
  const onnx::ModelProto m = read_model_proto(fs::path(node_test_root()) / test / "model.onnx");
  for (const auto& n : m.graph().node()) {
    if (!OpRegistry::builtin().find(n.domain(), n.op_type(), kMaxOpset)) return false;
  }
  return true;
}

class OnnxNodeTest : public ::testing::TestWithParam<std::string> {
 protected:
  void record(Category c, std::string detail) {
    std::lock_guard<std::mutex> lock(results_mutex);
    results().push_back({GetParam(), op_, c, std::move(detail)});
  }
  std::string op_;
};

TEST_P(OnnxNodeTest, MatchesReference) {
  const std::string test = GetParam();
  const fs::path dir = fs::path(node_test_root()) / test;
  if (!fs::exists(dir / "model.onnx")) GTEST_SKIP() << "no ONNX node tests under " << node_test_root();
  op_ = op_of(test);
  if (auto it = excluded().find(test); it != excluded().end()) {
    record(Category::kSkipped, it->second);
    GTEST_SKIP() << it->second;
  }
  // Any kUnsupported error moves the test to "unsupported", or to "skipped" when it comes
  // from an opset tamp does not import.
  auto unsupported = [&](const Error& e) {
    const int64_t opset = default_opset(test);
    if (opset < io::kMinImportOpset && ops_known_at_newest_opset(test)) {
      record(Category::kSkipped, fmt::format("opset {} < {}: {}", opset, io::kMinImportOpset, short_message(e)));
    } else {
      record(Category::kUnsupported, short_message(e));
    }
  };
  try {
    nn::GraphModule m = io::load_onnx((dir / "model.onnx").string(),
                                      {.fold_constants = false, .allow_old_opsets = true});
    m.eval();
    NoGradGuard no_grad;
    const nn::Graph& g = m.graph();
    int sets = 0;
    std::string failure;
    for (int s = 0; fs::exists(dir / fmt::format("test_data_set_{}", s)); ++s, ++sets) {
      const fs::path data = dir / fmt::format("test_data_set_{}", s);
      std::map<std::string, Variable> inputs;
      for (size_t k = 0; k < g.inputs.size(); ++k) {
        const fs::path f = data / fmt::format("input_{}.pb", k);
        if (!fs::exists(f)) continue;  // an optional input left out
        inputs[g.inputs[k].name] = Variable(read_node_test_tensor(f.string(), g.inputs[k].dtype));
      }
      const auto outputs = m.forward(inputs);
      for (size_t k = 0; k < g.outputs.size(); ++k) {
        const Tensor& got = outputs.at(g.outputs[k].name).value();
        const Tensor want = read_node_test_tensor((data / fmt::format("output_{}.pb", k)).string(), got.dtype());
        const std::string diff = compare(got, want);
        if (!diff.empty() && failure.empty()) {
          failure = fmt::format("data set {}, output '{}': {}", s, g.outputs[k].name, diff);
        }
      }
    }
    ASSERT_GT(sets, 0) << "no test_data_set_* in " << dir;
    record(failure.empty() ? Category::kPass : Category::kFail, failure);
    EXPECT_TRUE(failure.empty()) << failure;
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kUnsupported) {
      unsupported(e);
      GTEST_SKIP() << "unsupported: " << e.what();
    }
    record(Category::kFail, short_message(e));
    FAIL() << e.what();
  }
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

INSTANTIATE_TEST_SUITE_P(Node, OnnxNodeTest, ::testing::ValuesIn(node_test_dirs()), test_name);

// The per-op table, printed after a run of more than one test.
class SummaryEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    const auto& r = results();
    if (r.size() < 2) return;
    struct Counts { int pass = 0, fail = 0, unsupported = 0, skipped = 0; };
    std::map<std::string, Counts> per_op;
    Counts total;
    for (const auto& o : r) {
      Counts& c = per_op[o.op];
      switch (o.category) {
        case Category::kPass: ++c.pass; ++total.pass; break;
        case Category::kFail: ++c.fail; ++total.fail; break;
        case Category::kUnsupported: ++c.unsupported; ++total.unsupported; break;
        case Category::kSkipped: ++c.skipped; ++total.skipped; break;
      }
    }
    std::string md = fmt::format(
        "ONNX node tests ({}): {} run, {} pass, {} fail, {} unsupported, {} skipped\n\n"
        "| op | pass | fail | unsupported | skipped |\n|---|---:|---:|---:|---:|\n",
        node_test_root(), r.size(), total.pass, total.fail, total.unsupported, total.skipped);
    for (const auto& [op, c] : per_op) {
      md += fmt::format("| {} | {} | {} | {} | {} |\n", op, c.pass, c.fail, c.unsupported, c.skipped);
    }
    // Failures one by one; skipped and unsupported tests grouped by reason.
    auto list = [&](Category category, bool grouped) {
      std::map<std::string, std::vector<std::string>> by_reason;
      for (const auto& o : r) {
        if (o.category != category) continue;
        if (grouped) by_reason[o.detail].push_back(o.test);
        else md += fmt::format("- `{}` ({}): {}\n", o.test, o.op, o.detail);
      }
      for (const auto& [reason, tests] : by_reason) {
        std::string names;
        for (const auto& t : tests) names += (names.empty() ? "`" : ", `") + t + "`";
        md += fmt::format("- {} ({}): {}\n", reason, tests.size(), names);
      }
    };
    md += fmt::format("\nFailing ({}):\n\n", total.fail);
    list(Category::kFail, false);
    md += fmt::format("\nSkipped ({}), by reason:\n\n", total.skipped);
    list(Category::kSkipped, true);
    md += fmt::format("\nUnsupported ({}), by reason:\n\n", total.unsupported);
    list(Category::kUnsupported, true);
    std::cout << "\n" << md;
    const char* env = std::getenv("TAMP_NODE_TEST_SUMMARY");
    // By default next to the test binary, so a run from the source tree leaves it clean.
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    const std::string path = env ? env : (ec ? fs::path("onnx_node_tests.md") : exe.parent_path() / "onnx_node_tests.md").string();
    std::ofstream(path) << md;
    std::cout << "summary written to " << path << "\n";
  }
};

const auto* const kSummary = ::testing::AddGlobalTestEnvironment(new SummaryEnvironment);

}  // namespace
}  // namespace tamp::test
