// The benchmark's held-back models (benchmarks/models.py: torchvision ResNet-18 and
// MobileNetV2, a BERT-like encoder), exported by PyTorch, import into tamp, run the same
// forward pass as ONNX Runtime on every instruction set this CPU has, and train: one step
// reaches every parameter. ctest exports them first (the bench_models_export fixture, which
// needs Debian's python3-torch and python3-torchvision) into TAMP_BENCH_MODELS, a folder of
// the build tree.
#include "support/ort_runner.h"

#include <tamp/autograd/simd_target.h>
#include <tamp/io/onnx_import.h>
#include <tamp/nn/loss.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace tamp::test {
namespace {

constexpr int64_t kBatch = 3;

std::string model_path(const std::string& name) {
  return std::string(TAMP_BENCH_MODELS) + "/" + name + ".onnx";
}

// Float inputs from N(0, 1); int64 inputs are token ids below the rows of the embedding.
Tensor random_input(const nn::GraphModule& model, uint64_t seed) {
  const nn::ValueInfo& in = model.graph().inputs.at(0);
  Shape shape{kBatch};
  for (size_t i = 1; i < in.shape.size(); ++i) shape.push_back(in.shape[i].value);
  Generator g(seed);
  Tensor t = Tensor::empty(shape, in.dtype);
  const int64_t vocab =
      in.dtype == DType::kInt64 ? model.graph().initializers.at("tokens.weight").shape()[0] : 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (in.dtype == DType::kInt64) {
      t.data<int64_t>()[i] = static_cast<int64_t>(g.below(static_cast<uint64_t>(vocab)));
    } else {
      t.data<float>()[i] = g.normal();
    }
  }
  return t;
}

class BenchModel : public ::testing::TestWithParam<std::string> {};

TEST_P(BenchModel, ForwardMatchesOnnxRuntimeOnEverySimdTarget) {
  const std::string path = model_path(GetParam());
  nn::GraphModule model = io::load_onnx(path);
  model.eval();
  const std::string in = model.graph().inputs.at(0).name, out = model.graph().outputs.at(0).name;
  const Tensor x = random_input(model, 11);
  const Tensor ort = run_ort(path, {{in, x}}).at(out);
  ASSERT_EQ(ort.shape(), (Shape{kBatch, 10}));
  double scale = 0;
  for (int64_t i = 0; i < ort.numel(); ++i) scale = std::max(scale, std::abs(ort.at(i)));
  ASSERT_GT(scale, 0) << "ORT's logits are all zero: the comparison would show nothing";

  const std::string before = simd_target();
  for (const std::string& target : simd_targets_available()) {
    set_simd_target(target);
    Tensor mine;
    {
      NoGradGuard no_grad;
      mine = model.forward(Variable(x)).value();
    }
    ASSERT_EQ(mine.shape(), ort.shape()) << target;
    double worst = 0;
    for (int64_t i = 0; i < ort.numel(); ++i)
      worst = std::max(worst, std::abs(mine.at(i) - ort.at(i)));
    EXPECT_LE(worst, 1e-4 * scale) << GetParam() << " on " << target << ": largest |tamp - ORT| "
                                   << worst << ", logits up to " << scale;
  }
  set_simd_target(before);
}

TEST_P(BenchModel, OneTrainingStepReachesEveryParameter) {
  nn::GraphModule model = io::load_onnx(model_path(GetParam()));
  model.train();
  Tensor labels = Tensor::empty({kBatch}, DType::kInt64);
  for (int64_t i = 0; i < kBatch; ++i) labels.data<int64_t>()[i] = (3 * i + 1) % 10;
  Variable loss =
      nn::cross_entropy(model.forward(Variable(random_input(model, 12))), Variable(labels));
  ASSERT_TRUE(std::isfinite(loss.value().item()));
  loss.backward();
  const auto params = model.named_parameters();
  ASSERT_FALSE(params.empty());
  for (const auto& [name, p] : params) {
    ASSERT_TRUE(p.grad().defined()) << name << " got no gradient";
    ASSERT_EQ(p.grad().shape(), p.value().shape()) << name;
    double norm = 0;
    for (int64_t i = 0; i < p.grad().numel(); ++i) norm += std::abs(p.grad().at(i));
    EXPECT_GT(norm, 0) << name << ": its gradient is zero";
  }
}

INSTANTIATE_TEST_SUITE_P(Exported, BenchModel,
                         ::testing::Values("resnet18", "mobilenetv2", "bert"));

}  // namespace
}  // namespace tamp::test
