// docs/onnx_coverage.md, generated: every ONNX operator of the default domain up to opset
// kMaxOpset (Debian's onnx 1.12 schemas up to opset 17, plus the versions of opsets 18-21
// listed below) against the op table — the opsets tamp accepts, whether it differentiates
// the op, and how many of the op's ONNX backend node tests pass — followed by tamp's ops of
// other domains. The test fails when the committed file differs from what the op table and
// the node tests give today; TAMP_UPDATE_DOCS=1 rewrites it instead.
#include "io/node_test_data.h"
#include "support/ort_runner.h"

#include <tamp/autograd/op.h>

#include <gtest/gtest.h>
#include <onnx/defs/schema.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace tamp::test {
namespace {

namespace fs = std::filesystem;

// The default-domain operator versions of opsets 18 to 21 (ONNX's docs/Changelog.md), which
// onnx 1.12's schema registry predates.
const std::map<int, std::vector<std::string>>& newer_versions() {
  static const std::map<int, std::vector<std::string>> v = {
      {18,
       {"BitwiseAnd",
        "BitwiseNot",
        "BitwiseOr",
        "BitwiseXor",
        "CenterCropPad",
        "Col2Im",
        "GroupNormalization",
        "LpPool",
        "Mish",
        "OptionalGetElement",
        "OptionalHasElement",
        "Pad",
        "ReduceL1",
        "ReduceL2",
        "ReduceLogSum",
        "ReduceLogSumExp",
        "ReduceMax",
        "ReduceMean",
        "ReduceMin",
        "ReduceProd",
        "ReduceSumSquare",
        "Resize",
        "ScatterElements",
        "ScatterND",
        "Split"}},
      {19,
       {"AveragePool", "Cast", "CastLike", "Constant", "DeformConv", "DequantizeLinear", "Equal",
        "Identity", "If", "Loop", "Pad", "QuantizeLinear", "Reshape", "Resize", "Scan", "Shape",
        "Size"}},
      {20,
       {"AffineGrid", "ConstantOfShape", "DFT", "Gelu", "GridSample", "ImageDecoder", "IsInf",
        "IsNaN", "ReduceMax", "ReduceMin", "RegexFullMatch", "StringConcat", "StringSplit"}},
      {21,
       {"Cast",
        "CastLike",
        "Constant",
        "ConstantOfShape",
        "DequantizeLinear",
        "Flatten",
        "GroupNormalization",
        "Identity",
        "If",
        "Loop",
        "Pad",
        "QLinearMatMul",
        "QuantizeLinear",
        "Reshape",
        "Scan",
        "Shape",
        "Size",
        "Squeeze",
        "Transpose",
        "Unsqueeze"}},
  };
  return v;
}

// Default-domain op -> its versions up to kMaxOpset; an op whose newest version deprecates
// it (Upsample, Scatter) is left out.
std::map<std::string, std::set<int>> onnx_operators() {
  std::map<std::string, std::set<int>> ops;
  std::map<std::string, std::pair<int, bool>> newest;  // version, deprecated
  for (const auto& s : onnx::OpSchemaRegistry::get_all_schemas_with_history()) {
    if (!s.domain().empty()) continue;
    ops[s.Name()].insert(s.SinceVersion());
    auto& n = newest[s.Name()];
    if (s.SinceVersion() >= n.first) n = {s.SinceVersion(), s.Deprecated()};
  }
  for (const auto& [name, n] : newest)
    if (n.second) ops.erase(name);
  for (const auto& [version, names] : newer_versions()) {
    for (const auto& name : names) ops[name].insert(version);
  }
  return ops;
}

std::string versions_text(const std::set<int>& v) {
  std::string s;
  for (int x : v) s += (s.empty() ? "" : ", ") + std::to_string(x);
  return s;
}

struct TampOp {
  int oldest = 0;
  bool gradient = false;
};

std::map<std::pair<std::string, std::string>, TampOp> tamp_ops() {
  std::map<std::pair<std::string, std::string>, TampOp> out;
  for (const auto& d : OpRegistry::builtin().ops()) {
    TampOp& t = out[{d.domain, d.type}];
    if (t.oldest == 0 || d.since_version < t.oldest) t.oldest = d.since_version;
    t.gradient |= d.differentiable();
  }
  return out;
}

// Node tests per op (single-op tests only; function expansions and multi-op graphs are not
// counted): {passing, all}.
std::map<std::string, std::pair<int, int>> node_tests_per_op() {
  std::map<std::string, std::pair<int, int>> out;
  for (const auto& name : node_test_dirs()) {
    const NodeTestOutcome o = run_node_test((fs::path(node_test_root()) / name).string());
    auto& [pass, all] = out[o.op];
    ++all;
    if (o.category == NodeTestCategory::kPass) ++pass;
  }
  return out;
}

// The PyTorch-exported operator tests (pytorch_operator_test.cpp): the pass count and every
// folder that does not pass, with why.
std::string pytorch_section() {
  int all = 0, passed = 0;
  std::string others;
  for (const char* suite : {"pytorch-operator", "pytorch-converted"}) {
    const fs::path root = fs::path(onnx_test_data_root()) / suite;
    for (const auto& name : node_test_dirs(root.string())) {
      if (!fs::exists(root / name / "model.onnx")) continue;
      const NodeTestOutcome o = run_node_test((root / name).string());
      ++all;
      if (o.category == NodeTestCategory::kPass)
        ++passed;
      else
        others += fmt::format("- `{}/{}`: {}\n", suite, name, o.detail);
    }
  }
  return fmt::format(
      "\n## PyTorch-exported operator tests\n\nlibonnx-testdata's `pytorch-operator` and "
      "`pytorch-converted` folders (torch.nn modules exported at opset 6): {} of {} pass "
      "(`tests/io/pytorch_operator_test.cpp` holds the rate at 97 % or more).{}\n{}",
      passed, all, others.empty() ? "" : " Not passing:\n", others);
}

std::string coverage_markdown() {
  const auto onnx_ops = onnx_operators();
  const auto tamp = tamp_ops();
  const auto tests = node_tests_per_op();
  int implemented = 0, with_gradient = 0;
  std::string rows;
  for (const auto& [name, versions] : onnx_ops) {
    auto it = tamp.find({"", name});
    std::string accepts = "—", gradient = "—";
    if (it != tamp.end()) {
      ++implemented;
      accepts = fmt::format("{}–{}", it->second.oldest, kMaxOpset);
      gradient = it->second.gradient ? "yes" : "no";
      with_gradient += it->second.gradient;
    }
    auto t = tests.find(name);
    const std::string passing =
        t == tests.end() ? "—" : fmt::format("{} of {}", t->second.first, t->second.second);
    rows += fmt::format("| {} | {} | {} | {} | {} |\n", name, versions_text(versions), accepts,
                        gradient, passing);
  }
  std::string other;
  for (const auto& [key, op] : tamp) {
    if (key.first.empty()) continue;
    other += fmt::format("| {} | {} | {}+ | {} |\n", key.second, key.first, op.oldest,
                         op.gradient ? "yes" : "no");
  }
  std::ostringstream md;
  md << "# ONNX operator coverage\n\n"
     << "Generated by `tests/io/onnx_coverage_test.cpp` from tamp's op table "
        "(`autograd/register_builtin_ops.cpp`) and Debian's libonnx-testdata node tests; do not "
        "edit by hand. "
        "Rewrite it with `TAMP_UPDATE_DOCS=1 build/release/tests/io_tests "
        "--gtest_filter='OnnxCoverage.*'`; "
        "the test fails while it is stale.\n\n"
     << fmt::format(
            "tamp implements {} of the {} operators of the default ONNX domain up to opset {}, {} "
            "of them "
            "with a gradient. A model imports at any opset; each node runs when tamp implements "
            "its op "
            "at the model's opset (the *tamp accepts* column), and no default-domain node of an "
            "opset "
            "above {} does.\n\n",
            implemented, onnx_ops.size(), kMaxOpset, with_gradient, kMaxOpset)
     << "- *ONNX versions*: the opsets that introduced or changed the operator (deprecated "
        "operators left out).\n"
        "- *gradient*: tamp differentiates it (a finite-difference check covers every such op).\n"
        "- *node tests*: ONNX backend node tests of the operator alone (onnx 1.12's, opsets up to "
        "17) that pass "
        "in tamp, of all of them.\n\n"
     << "| op | ONNX versions | tamp accepts | gradient | node tests |\n|---|---|---|---|---|\n"
     << rows
     << "\nOps of other domains:\n\n| op | domain | tamp accepts | gradient |\n|---|---|---|---|\n"
     << other << pytorch_section();
  return md.str();
}

TEST(OnnxCoverage, CommittedTableIsCurrent) {
  if (!fs::exists(fs::path(node_test_root()) / "test_relu" / "model.onnx")) {
    GTEST_SKIP() << "no ONNX node tests under " << node_test_root();
  }
  const fs::path path = fs::path(source_dir()) / "docs" / "onnx_coverage.md";
  const std::string now = coverage_markdown();
  const char* update = std::getenv("TAMP_UPDATE_DOCS");
  if (update && std::string(update) == "1") {
    std::ofstream(path) << now;
    GTEST_SKIP() << "rewrote " << path;
  }
  std::ifstream in(path);
  std::stringstream committed;
  committed << in.rdbuf();
  EXPECT_EQ(committed.str(), now)
      << path << " is stale: rewrite it with TAMP_UPDATE_DOCS=1 (see its first lines)";
}

}  // namespace
}  // namespace tamp::test
