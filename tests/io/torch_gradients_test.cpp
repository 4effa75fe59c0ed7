// Training through the importer and the executor, against PyTorch's fixtures:
// - cnn_bn_train ran the CNN in train() mode (BatchNormalization on batch statistics, running
//   statistics updated with torch's unbiased variance) with Dropout disabled: tamp must
//   reproduce its logits, gradients and the running statistics the executor writes back;
// - the transformer's gradients pass through Softmax (attention) and LayerNormalization.
#include <tamp/autograd/apply.h>
#include <tamp/autograd/variable.h>
#include <tamp/io/onnx_import.h>
#include <tamp/io/tensor_proto.h>

#include "support/expect.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace tamp::test {
namespace {

namespace fs = std::filesystem;

fs::path fixture_dir() {
  const char* env = std::getenv("TAMP_SOURCE_DIR");
  const fs::path root =
      env ? fs::path(env) : fs::path(__FILE__).parent_path().parent_path().parent_path();
  return root / "tests" / "data";
}

Tensor read(const std::string& fixture, const std::string& file) {
  return io::read_tensor_file((fixture_dir() / "fixtures" / fixture / file).string());
}

nlohmann::json index(const std::string& fixture) {
  std::ifstream in(fixture_dir() / "fixtures" / fixture / "index.json");
  return nlohmann::json::parse(in);
}

// Cross-entropy of the module's logits for the fixture's input, backward, then every
// parameter's gradient against torch's.
void check_gradients(nn::GraphModule& m, const std::string& fixture, const nlohmann::json& fx,
                     double rtol) {
  const Tensor x = read(fixture, fx["input"]["file"].get<std::string>());
  const Variable logits =
      m.forward({{fx["input"]["name"].get<std::string>(), Variable(x)}}).at("logits");
  expect_close(logits.value(), read(fixture, fx["logits"].get<std::string>()),
               {.atol = 1e-5, .rtol = 1e-4}, "logits");
  Variable loss = apply1("SoftmaxCrossEntropyLoss",
                         {logits, Variable(read(fixture, fx["labels"].get<std::string>()))});
  EXPECT_NEAR(loss.value().item(), fx["loss_value"].get<double>(), 1e-5);
  loss.backward();
  for (const auto& [name, param] : m.named_parameters()) {
    ASSERT_TRUE(param.grad().defined()) << name;
    expect_close(param.grad(), read(fixture, fx["gradients"][name].get<std::string>()),
                 {.atol = 1e-5, .rtol = rtol}, "gradient of " + name);
  }
}

class BatchNormTraining : public ::testing::Test {
 protected:
  void SetUp() override {
    fx_ = index("cnn_bn_train");
    nn::Graph g = io::load_onnx_graph((fixture_dir() / fx_["model"].get<std::string>()).string());
    // The fixture disabled Dropout; the BatchNormalization nodes keep their 5 outputs (opset
    // 13's training form), so they train whatever the module's mode.
    for (auto& n : g.nodes) {
      if (n.op_type != "Dropout") continue;
      n.op_type = "Identity";
      n.inputs.resize(1);
      n.outputs.resize(1);
      n.attrs = std::make_shared<const Attributes>();
    }
    module_ = std::make_unique<nn::GraphModule>(std::move(g));
  }

  Variable forward() {
    const Tensor x = read("cnn_bn_train", fx_["input"]["file"].get<std::string>());
    return module_->forward({{fx_["input"]["name"].get<std::string>(), Variable(x)}}).at("logits");
  }

  Tensor buffer(const std::string& name) {
    for (const auto& [n, v] : module_->named_buffers()) {
      if (n == name) return v.value();
    }
    ADD_FAILURE() << "no buffer " << name;
    return {};
  }

  nlohmann::json fx_;
  std::unique_ptr<nn::GraphModule> module_;
};

TEST_F(BatchNormTraining, LogitsGradientsAndRunningStatisticsMatchTorch) {
  module_->train();
  check_gradients(*module_, "cnn_bn_train", fx_, 1e-3);
  for (const auto& [name, file] : fx_["running_stats_after"].items()) {
    expect_close(buffer(name), read("cnn_bn_train", file.get<std::string>()),
                 {.atol = 1e-6, .rtol = 1e-5}, name);
  }
}

TEST_F(BatchNormTraining, EvalModeLeavesTheBuffersAlone) {
  std::map<std::string, Tensor> before;
  for (const auto& [n, v] : module_->named_buffers()) before[n] = v.value().clone();
  ASSERT_FALSE(before.empty());
  module_->eval();
  NoGradGuard no_grad;
  forward();
  for (const auto& [n, v] : module_->named_buffers()) {
    EXPECT_EQ(v.value().to_vector<float>(), before.at(n).to_vector<float>()) << n;
  }
}

TEST(TransformerGradients, MatchTorch) {
  const nlohmann::json fx = index("transformer");
  nn::GraphModule m(io::load_onnx_graph((fixture_dir() / fx["model"].get<std::string>()).string()));
  m.eval();
  check_gradients(m, "transformer", fx, 1e-3);
}

}  // namespace
}  // namespace tamp::test
