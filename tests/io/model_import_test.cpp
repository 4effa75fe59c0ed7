// End to end through the importer: the PyTorch-exported models of tests/data load with their
// initializers as parameters named like torch's, give torch's outputs, and survive export.
#include <tamp/autograd/variable.h>
#include <tamp/io/onnx_export.h>
#include <tamp/io/onnx_import.h>
#include <tamp/io/tensor_proto.h>
#include <tamp/version.h>

#include "io/graph_compare.h"
#include "support/expect.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

namespace tamp::test {
namespace {

namespace fs = std::filesystem;

fs::path data_dir() {
  const char* env = std::getenv("TAMP_SOURCE_DIR");
  const fs::path root =
      env ? fs::path(env) : fs::path(__FILE__).parent_path().parent_path().parent_path();
  return root / "tests" / "data";
}

nlohmann::json fixture(const std::string& name) {
  std::ifstream in(data_dir() / "fixtures" / name / "index.json");
  return nlohmann::json::parse(in);
}

Tensor run(nn::GraphModule& m, const nlohmann::json& fx, const std::string& name) {
  m.eval();
  NoGradGuard no_grad;
  const Tensor x = io::read_tensor_file(
      (data_dir() / "fixtures" / name / fx["input"]["file"].get<std::string>()).string());
  return m.forward({{fx["input"]["name"].get<std::string>(), Variable(x)}}).at("logits").value();
}

// cnn_bn_train.onnx is a training export: its Dropout gets a constant training_mode=true and
// its BatchNormalization nodes have the 5 outputs that make them training nodes before opset
// 14. The fixtures ran both in eval mode: drop what forces training, so the nodes follow the
// module's mode.
nn::Graph without_forced_training(nn::Graph g) {
  for (auto& n : g.nodes) {
    if (n.op_type == "Dropout" && n.inputs.size() > 2) n.inputs.resize(2);
    if (n.op_type == "BatchNormalization") n.outputs.resize(1);
  }
  return g;
}

nn::Graph load(const std::string& relative, const io::ImportOptions& options = {}) {
  return without_forced_training(io::load_onnx_graph((data_dir() / relative).string(), options));
}

class TorchModel : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchModel, LoadsWithTorchParameterNamesAndOutputs) {
  const std::string name = GetParam();
  const nlohmann::json fx = fixture(name);
  nn::GraphModule m(load(fx["model"].get<std::string>()));
  std::set<std::string> params, torch_params;
  for (const auto& [n, v] : m.named_parameters()) params.insert(n);
  for (const auto& [n, file] : fx["gradients"].items()) torch_params.insert(n);
  EXPECT_EQ(params, torch_params);  // constant folding made no parameter of its own
  const Tensor logits = io::read_tensor_file(
      (data_dir() / "fixtures" / name / fx["logits"].get<std::string>()).string());
  expect_close(run(m, fx, name), logits, {.atol = 1e-5, .rtol = 1e-4});
}

TEST_P(TorchModel, EvalExportMatchesTorch) {
  const std::string name = GetParam();
  const nlohmann::json fx = fixture(name);
  nn::GraphModule m(load(fx["eval_model"].get<std::string>()));
  const Tensor want = io::read_tensor_file(
      (data_dir() / "fixtures" / name / fx["eval_output"]["file"].get<std::string>()).string());
  expect_close(run(m, fx, name), want, {.atol = 1e-5, .rtol = 1e-4});
}

TEST_P(TorchModel, FoldingChangesNoOutput) {
  const std::string name = GetParam();
  const nlohmann::json fx = fixture(name);
  nn::GraphModule folded(load(fx["model"].get<std::string>()));
  nn::GraphModule as_is(load(fx["model"].get<std::string>(), {.fold_constants = false}));
  EXPECT_TRUE(same_tensor(run(folded, fx, name), run(as_is, fx, name)));
}

TEST_P(TorchModel, SavesCurrentWeights) {
  const std::string name = GetParam();
  const nlohmann::json fx = fixture(name);
  nn::GraphModule m(load(fx["model"].get<std::string>()));
  // A "training step": every parameter moves.
  for (auto& [n, v] : m.named_parameters()) {
    Tensor t = v.value().clone();
    for (int64_t i = 0; i < t.numel(); ++i)
      t.data<float>()[i] += 0.001f * static_cast<float>(i % 7);
    v.set_value(t);
  }
  TempDir tmp;
  io::save_onnx(m, tmp.file("tuned.onnx"));
  nn::GraphModule again(io::load_onnx_graph(tmp.file("tuned.onnx")));
  nn::Graph expected = m.export_graph();  // the same, written by tamp
  EXPECT_EQ(expected.producer_name, "pytorch");
  expected.producer_name = "tamp";
  expected.producer_version = kVersion;
  EXPECT_EQ(graph_difference(expected, again.graph()), "");
  EXPECT_TRUE(same_tensor(run(m, fx, name), run(again, fx, name)));

  // Initializers of 1 KiB or more are raw_data, smaller ones typed fields.
  onnx::ModelProto proto;
  std::ifstream in(tmp.file("tuned.onnx"), std::ios::binary);
  ASSERT_TRUE(proto.ParseFromIstream(&in));
  for (const auto& init : proto.graph().initializer()) {
    const Tensor& t = again.graph().initializers.at(init.name());
    EXPECT_EQ(init.has_raw_data(), t.nbytes() >= 1024) << init.name();
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TorchModel,
                         ::testing::Values("mlp", "cnn", "cnn_bn", "cnn_wide", "transformer"));

}  // namespace
}  // namespace tamp::test
