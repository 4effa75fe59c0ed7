#include "io/node_test_data.h"

#include <tamp/autograd/op.h>
#include <tamp/autograd/variable.h>
#include <tamp/io/onnx_import.h>
#include <tamp/io/tensor_proto.h>

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

namespace tamp::test {

namespace fs = std::filesystem;

std::string node_test_root() {
  const char* env = std::getenv("TAMP_ONNX_NODE_TESTS");
  return env ? env : "/usr/share/libonnx-testdata/data/node";
}

std::string onnx_test_data_root() { return fs::path(node_test_root()).parent_path().string(); }

std::vector<std::string> node_test_dirs(const std::string& root) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    if (e.is_directory() && fs::exists(e.path() / "model.onnx"))
      out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  if (out.empty()) out.push_back("no_node_tests_found");
  return out;
}

Tensor read_node_test_tensor(const std::string& path, DType expected) {
  Tensor t = io::read_tensor_file(path);
  if (expected != DType::kBFloat16 || t.dtype() != DType::kUInt16) return t;
  Tensor out = Tensor::empty(t.shape(), DType::kBFloat16);
  std::memcpy(out.raw_data(), t.raw_data(), t.nbytes());
  return out;
}

const std::map<std::string, std::string>& excluded_node_tests() {
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
      {"test_castlike_FLOAT_to_BFLOAT16",
       "expected data truncates to bfloat16 instead of rounding"},
      {"test_castlike_FLOAT_to_BFLOAT16_expanded",
       "expected data truncates to bfloat16 instead of rounding"},
      // The model declares input 'like' as [3, 4] but its test data is [1] (onnx 1.12 bug).
      {"test_castlike_BFLOAT16_to_FLOAT", "model declares 'like' [3, 4], data is [1]"},
      {"test_castlike_BFLOAT16_to_FLOAT_expanded", "model declares 'like' [3, 4], data is [1]"},
  };
  return list;
}

namespace {

onnx::ModelProto read_model_proto(const fs::path& path) {
  onnx::ModelProto m;
  std::ifstream in(path, std::ios::binary);
  m.ParseFromIstream(&in);
  return m;
}

// The op a test exercises: its node's op type, "Op (expanded)" for the function-expanded
// variants (named after the test they expand), else the distinct op types joined.
std::string op_of(const fs::path& dir) {
  const std::string test = dir.filename().string();
  const std::string suffix = "_expanded";
  const bool expanded = test.size() > suffix.size() && test.ends_with(suffix);
  const fs::path base_dir =
      dir.parent_path() / test.substr(0, test.size() - (expanded ? suffix.size() : 0));
  const onnx::ModelProto m =
      read_model_proto((fs::exists(base_dir) ? base_dir : dir) / "model.onnx");
  std::vector<std::string> ops;
  for (const auto& n : m.graph().node()) {
    if (n.op_type() != "Constant" && std::find(ops.begin(), ops.end(), n.op_type()) == ops.end())
      ops.push_back(n.op_type());
  }
  std::string op;
  for (const auto& o : ops) op += (op.empty() ? "" : "+") + o;
  if (op.empty()) op = "Constant";
  return expanded ? op + " (expanded)" : op;
}

int64_t default_opset(const onnx::ModelProto& m) {
  for (const auto& o : m.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") return o.version();
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
    if (exact)
      ok = g == w;
    else if (std::isnan(w))
      ok = std::isnan(g);
    else if (std::isinf(w))
      ok = g == w;
    else
      ok = std::abs(g - w) <= kAtol + kRtol * std::abs(w);
    if (!ok && bad++ == 0) first = i;
  }
  if (bad == 0) return {};
  return fmt::format("{} of {} elements differ; first at flat index {}: got {}, expected {}", bad,
                     want.numel(), first, got.at(first), want.at(first));
}

// One line for the summary: without the "loading '<path>': " prefix and the hint, the
// list of missing ops reduced to their names.
std::string short_message(const Error& e) {
  std::string s = e.message();
  if (s.find("use ops tamp does not support") != std::string::npos) {
    static const std::regex missing(R"(: (\w+) \(domain ([^,]+), opset (\d+)\))");
    std::string ops;
    for (std::sregex_iterator it(s.begin(), s.end(), missing), end; it != end; ++it) {
      const std::string op =
          (*it)[2] == "ai.onnx" ? (*it)[1].str() : (*it)[2].str() + "." + (*it)[1].str();
      const std::string entry = op + " (opset " + (*it)[3].str() + ")";
      if (ops.find(entry) == std::string::npos) ops += (ops.empty() ? "" : ", ") + entry;
    }
    return "no op " + ops;
  }
  s = e.what();
  const std::string marker = "model.onnx': ";
  if (auto at = s.find(marker); at != std::string::npos) s = s.substr(at + marker.size());
  s = s.substr(0, s.find("\nhint: "));
  for (char& c : s)
    if (c == '\n') c = ' ';
  return s;
}

// True when tamp implements every op of the test at kMaxOpset but one of them not at the
// test's own (older) opset: only that old version is missing.
bool missing_only_at_old_opset(const onnx::ModelProto& m) {
  const int opset = static_cast<int>(default_opset(m));
  bool old_missing = false;
  for (const auto& n : m.graph().node()) {
    if (!OpRegistry::builtin().find(n.domain(), n.op_type(), kMaxOpset)) return false;
    old_missing |= !OpRegistry::builtin().find(n.domain(), n.op_type(), opset);
  }
  return old_missing;
}

// Runs every data set; empty when all outputs match, else the first difference.
std::string run_data_sets(const fs::path& dir) {
  nn::GraphModule m = io::load_onnx((dir / "model.onnx").string(), {.fold_constants = false});
  m.eval();
  NoGradGuard no_grad;
  const nn::Graph& g = m.graph();
  int sets = 0;
  for (; fs::exists(dir / fmt::format("test_data_set_{}", sets)); ++sets) {
    const fs::path data = dir / fmt::format("test_data_set_{}", sets);
    std::map<std::string, Variable> inputs;
    for (size_t k = 0; k < g.inputs.size(); ++k) {
      const fs::path f = data / fmt::format("input_{}.pb", k);
      if (!fs::exists(f)) continue;  // an optional input left out
      inputs[g.inputs[k].name] = Variable(read_node_test_tensor(f.string(), g.inputs[k].dtype));
    }
    const auto outputs = m.forward(inputs);
    for (size_t k = 0; k < g.outputs.size(); ++k) {
      const Tensor& got = outputs.at(g.outputs[k].name).value();
      const Tensor want =
          read_node_test_tensor((data / fmt::format("output_{}.pb", k)).string(), got.dtype());
      const std::string diff = compare(got, want);
      if (!diff.empty())
        return fmt::format("data set {}, output '{}': {}", sets, g.outputs[k].name, diff);
    }
  }
  if (sets == 0) return fmt::format("no test_data_set_* in {}", dir.string());
  return {};
}

}  // namespace

NodeTestOutcome run_node_test(const std::string& dir_name) {
  const fs::path dir(dir_name);
  NodeTestOutcome o{dir.filename().string(), op_of(dir), NodeTestCategory::kPass, {}};
  if (auto it = excluded_node_tests().find(o.test); it != excluded_node_tests().end()) {
    o.category = NodeTestCategory::kSkipped;
    o.detail = it->second;
    return o;
  }
  try {
    o.detail = run_data_sets(dir);
    if (!o.detail.empty()) o.category = NodeTestCategory::kFail;
  } catch (const Error& e) {
    o.detail = short_message(e);
    o.category = NodeTestCategory::kFail;
    if (e.kind() == ErrorKind::kUnsupported) {
      const onnx::ModelProto m = read_model_proto(dir / "model.onnx");
      o.category = missing_only_at_old_opset(m) ? NodeTestCategory::kSkipped
                                                : NodeTestCategory::kUnsupported;
      if (o.category == NodeTestCategory::kSkipped)
        o.detail = fmt::format("opset {}: {}", default_opset(m), o.detail);
    }
  }
  return o;
}

}  // namespace tamp::test
