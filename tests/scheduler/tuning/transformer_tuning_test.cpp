// The tiny transformer (tests/data/models/transformer.onnx: MatMul dense layers, attention
// MatMuls, residual Adds, LayerNormalization) on random inputs labelled by the fp32 model's own
// predictions (fp32 top-1 = 1): tuning keeps the agreement within 1 %, and ONNX Runtime agrees.
#include <tamp/io/onnx_export.h>
#include <tamp/io/onnx_import.h>
#include <tamp/scheduler/tuning/quant_tuning.h>
#include <tamp/scheduler/tuning/tuner.h>

#include "support/temp_dir.h"
#include "tuning_test_support.h"

#include <gtest/gtest.h>

#include <random>

namespace tamp::tuning {
namespace {

Tensor argmax_labels(const Tensor& logits) {
  Tensor y = Tensor::empty({logits.dim(0)}, DType::kInt64);
  for (int64_t i = 0; i < logits.dim(0); ++i) {
    const float* row = logits.data<float>() + i * logits.dim(1);
    y.data<int64_t>()[i] = std::max_element(row, row + logits.dim(1)) - row;
  }
  return y;
}

TEST(TransformerTuning, MseMeetsOnePercentAgreementAndOrtAgrees) {
  const nn::Graph g =
      io::load_onnx_graph(test::source_dir() + "/tests/data/models/transformer.onnx");
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0, 1);
  auto random_x = [&](int64_t n) {
    Tensor x = Tensor::empty({n, 64, 16});
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = normal(rng);
    return x;
  };
  const Tensor xc = random_x(256), xe = random_x(1000);
  nn::GraphModule fp(g);
  fp.eval();
  Tensor logits;
  {
    NoGradGuard no_grad;
    logits = fp.forward({{"input", Variable(xe)}}).at("logits").value();
  }
  QuantTuningOptions o;
  o.calibrations = {"minmax", "entropy"};
  o.calibration = std::make_shared<nn::TensorDataset>(
      xc, argmax_labels(fp.forward({{"input", Variable(xc)}}).at("logits").value()));
  o.calibration_batches = 4;
  o.eval = std::make_shared<nn::TensorDataset>(xe, argmax_labels(logits));
  QuantTuningProblem p(g, o);
  auto s = make_strategy("mse");
  const auto criterion = AccuracyCriterion::parse("relative:0.01");
  TuningResult r = tune(p, *s, {.criterion = criterion, .exit = {.max_trials = 40}});
  std::printf(
      "transformer: %zu ops, all-int8 agreement %.4f, best %.4f after %d trials, %zu ops in fp32\n",
      p.ops().size(), r.history[0].outcome.accuracy, r.best->outcome.accuracy, r.trials,
      r.fallbacks.size());
  EXPECT_DOUBLE_EQ(r.baseline.accuracy, 1.0);
  EXPECT_FALSE(r.history[0].meets);  // every op int8 misses 1 %
  ASSERT_TRUE(r.met) << r.message;
  EXPECT_LT(r.fallbacks.size(), p.ops().size());
  test::TempDir dir;
  io::save_onnx_graph(p.export_graph(r.best->config), dir.file("t.onnx"));
  const Tensor q = test::run_ort(dir.file("t.onnx"), {{"input", xe}}).at("logits");
  const Tensor lab = argmax_labels(logits), pred = argmax_labels(q);
  int64_t same = 0;
  for (int64_t i = 0; i < lab.numel(); ++i)
    same += lab.data<int64_t>()[i] == pred.data<int64_t>()[i];
  const double ort = static_cast<double>(same) / static_cast<double>(lab.numel());
  std::printf("ORT agreement of the exported model: %.4f\n", ort);
  EXPECT_TRUE(criterion.met(ort, 1.0)) << ort;
}

}  // namespace
}  // namespace tamp::tuning
