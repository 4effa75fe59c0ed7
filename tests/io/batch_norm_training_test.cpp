// BatchNormalization training through the importer and the executor, against PyTorch: the
// cnn_bn_train fixture ran the CNN in train() mode (batch statistics; running statistics
// updated with torch's unbiased variance) with Dropout disabled. tamp must reproduce its
// logits, gradients and the running statistics the executor writes back into the buffers.
#include <tamp/autograd/apply.h>
#include <tamp/autograd/variable.h>
#include <tamp/io/onnx_import.h>
#include <tamp/io/tensor_proto.h>

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
  const fs::path root = env ? fs::path(env) : fs::path(__FILE__).parent_path().parent_path().parent_path();
  return root / "tests" / "data";
}

Tensor read(const std::string& file) {
  return io::read_tensor_file((fixture_dir() / "fixtures" / "cnn_bn_train" / file).string());
}

void expect_close(const Tensor& got, const Tensor& want, double rtol, double atol, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_EQ(got.shape(), want.shape());
  for (int64_t i = 0; i < want.numel(); ++i) {
    ASSERT_NEAR(got.at(i), want.at(i), atol + rtol * std::abs(want.at(i))) << "element " << i;
  }
}

class BatchNormTraining : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ifstream in(fixture_dir() / "fixtures" / "cnn_bn_train" / "index.json");
    fx_ = nlohmann::json::parse(in);
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
    const Tensor x = read(fx_["input"]["file"].get<std::string>());
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
  const Variable logits = forward();
  expect_close(logits.value(), read(fx_["logits"].get<std::string>()), 1e-4, 1e-5, "logits");

  const Tensor labels = read(fx_["labels"].get<std::string>());
  Variable loss = apply1("SoftmaxCrossEntropyLoss", {logits, Variable(labels)});
  EXPECT_NEAR(loss.value().item(), fx_["loss_value"].get<double>(), 1e-5);
  loss.backward();
  for (const auto& [name, param] : module_->named_parameters()) {
    ASSERT_TRUE(param.grad().defined()) << name;
    expect_close(param.grad(), read(fx_["gradients"][name].get<std::string>()), 1e-3, 1e-5, "gradient of " + name);
  }
  for (const auto& [name, file] : fx_["running_stats_after"].items()) {
    expect_close(buffer(name), read(file.get<std::string>()), 1e-5, 1e-6, name);
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

}  // namespace
}  // namespace tamp::test
