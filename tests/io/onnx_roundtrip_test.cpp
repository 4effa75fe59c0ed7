// Export then re-import of every ONNX node-test model that tamp can load: the exporter's
// output passes onnx's checker, re-imports to a field-by-field equal nn::Graph, and (when
// tamp runs the ops) gives bit-identical outputs on the test's inputs.
#include <tamp/autograd/variable.h>
#include <tamp/io/onnx_export.h>
#include <tamp/io/onnx_import.h>
#include <tamp/io/tensor_proto.h>

#include "io/graph_compare.h"
#include "io/node_test_data.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace tamp::test {
namespace {

namespace fs = std::filesystem;

const io::ImportOptions kAsIs{.fold_constants = false};

class OnnxRoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(OnnxRoundTrip, ReimportsEqualGraphAndOutputs) {
  const fs::path dir = fs::path(node_test_root()) / GetParam();
  if (!fs::exists(dir / "model.onnx"))
    GTEST_SKIP() << "no ONNX node tests under " << node_test_root();
  nn::Graph original;
  try {
    original = io::load_onnx_graph((dir / "model.onnx").string(), kAsIs);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kUnsupported) GTEST_SKIP() << e.what();
    throw;
  }
  TempDir tmp;
  const std::string path = tmp.file("model.onnx");
  io::save_onnx_graph(original, path, {.keep_producer = true});
  const nn::Graph again = io::load_onnx_graph(path, kAsIs);
  ASSERT_EQ(graph_difference(original, again), "");

  std::unique_ptr<nn::GraphModule> a, b;
  try {
    a = std::make_unique<nn::GraphModule>(original);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kUnsupported) return;  // the graph part is checked; no ops to run
    throw;
  }
  b = std::make_unique<nn::GraphModule>(again);
  a->eval();
  b->eval();
  NoGradGuard no_grad;
  std::map<std::string, Variable> inputs;
  for (size_t k = 0; k < original.inputs.size(); ++k) {
    const fs::path f = dir / "test_data_set_0" / fmt::format("input_{}.pb", k);
    if (fs::exists(f))
      inputs[original.inputs[k].name] =
          Variable(read_node_test_tensor(f.string(), original.inputs[k].dtype));
  }
  Generator rng_a(7), rng_b(7);  // random ops draw the same numbers in both
  a->set_generator(&rng_a);
  b->set_generator(&rng_b);
  std::map<std::string, Variable> out_a, out_b;
  try {
    out_a = a->forward(inputs);
  } catch (const Error& e) {
    GTEST_SKIP() << "the original does not run either: " << e.what();
  }
  out_b = b->forward(inputs);
  for (const auto& [name, v] : out_a) {
    EXPECT_TRUE(same_tensor(v.value(), out_b.at(name).value())) << "output '" << name << "'";
  }
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

INSTANTIATE_TEST_SUITE_P(Node, OnnxRoundTrip, ::testing::ValuesIn(node_test_dirs()), test_name);

}  // namespace
}  // namespace tamp::test
