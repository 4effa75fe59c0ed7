// Fashion-MNIST budgets for pruning the CNN (label "slow"; about an hour on two loaded cores):
// 2:4 with fine-tuning loses at most 0.5 pt and 90 % unstructured (gradual, cubic, global) at
// most 1.5 pt against the dense model fine-tuned for as long; every criterion yields valid masks.
// examples/prune_distill_figures prints the same runs as the README's table.
#ifdef TAMP_HAVE_EXPERIMENTS

#include "compression_experiments.h"

#include "compression/pruning/prune_test_support.h"

#include <gtest/gtest.h>

#include <tamp/compression/pruning/shrink.h>

#include <fmt/format.h>

#include <cmath>

using namespace tamp;
using namespace tamp::compression::pruning;

namespace {

const examples::Baseline& baseline() {
  static const examples::Baseline b = examples::train_baseline(
      test::model_file("cnn"), test::fashion_data(), examples::ExperimentOptions{});
  return b;
}

void record(const char* key, double value) {
  testing::Test::RecordProperty(key, fmt::format("{:.4f}", value));
}

}  // namespace

TEST(SlowPruningFashionMnist, TwoFourLosesAtMostHalfAPoint) {
  const auto& b = baseline();
  const auto r = examples::run_pruning(b, test::fashion_data(), "2:4", Criterion::kMagnitude, {});
  record("dense_top1", b.finetuned_top1);
  record("top1_2of4", r.top1);
  EXPECT_TRUE(r.pattern_valid);
  EXPECT_DOUBLE_EQ(r.sparsity, 0.5);
  EXPECT_GE(r.top1, b.finetuned_top1 - 0.005);
}

// The default recipe (compression_experiments.h): global magnitude ranking, cubic over the
// first two of three epochs, the last at 90 %. 90 % of all Conv/Gemm weights are zero; the
// layers' shares differ (fc1 sparser than 90 %, conv1 and fc2 much less sparse).
TEST(SlowPruningFashionMnist, NinetyPercentCubicLosesAtMostOneAndAHalfPoints) {
  const auto& b = baseline();
  const auto r = examples::run_pruning(b, test::fashion_data(), "unstructured",
                                       Criterion::kMagnitude, {}, 0.9);
  record("dense_top1", b.finetuned_top1);
  record("top1_90pct", r.top1);
  for (const auto& [weight, sparsity] : r.layers) record(("sparsity_" + weight).c_str(), sparsity);
  EXPECT_TRUE(r.pattern_valid);
  EXPECT_NEAR(r.sparsity, 0.9, 1e-3);
  EXPECT_NEAR(r.model_sparsity, 0.9, 1e-3);
  EXPECT_EQ(r.layers.size(), 4u);  // conv1, conv2, fc1, fc2: every Conv/Gemm weight takes part
  EXPECT_GE(r.top1, b.finetuned_top1 - 0.015);
}

TEST(SlowPruningFashionMnist, EveryCriterionGivesValidTwoFourMasks) {
  const auto& b = baseline();
  for (Criterion c :
       {Criterion::kGradient, Criterion::kSnip, Criterion::kSnipMomentum, Criterion::kMovement}) {
    const auto r = examples::run_pruning(b, test::fashion_data(), "2:4", c, {});
    record(("top1_2of4_" + criterion_name(c)).c_str(), r.top1);
    EXPECT_TRUE(r.pattern_valid) << criterion_name(c);
    EXPECT_DOUBLE_EQ(r.sparsity, 0.5) << criterion_name(c);
    EXPECT_GE(r.top1, b.finetuned_top1 - 0.02)
        << criterion_name(c);  // a broken criterion loses far more
  }
}

// Channel pruning on the trained CNN: the model with the pruned channels removed, run in ONNX
// Runtime on the whole test set, gives tamp's masked model's argmax and logits within 1e-4.
TEST(SlowPruningFashionMnist, ShrunkChannelPrunedModelInOrtEqualsTheMaskedModelOnTheTestSet) {
  const auto& b = baseline();
  const auto r =
      examples::run_pruning(b, test::fashion_data(), "channel", Criterion::kMagnitude, {}, 0.5);
  record("top1_channel50", r.top1);
  EXPECT_TRUE(r.pattern_valid);
  EXPECT_GE(r.top1, b.finetuned_top1 - 0.05);  // half the channels of every hidden layer
  EXPECT_EQ(r.shrink.layers.size(), 3u);
  EXPECT_LT(r.shrink.parameters_after * 3, r.shrink.parameters_before);
  const nn::Graph shrunk = shrink_pruned(r.model);
  test::TempDir dir;
  io::save_onnx_graph(shrunk, dir.file("shrunk.onnx"));
  const nn::Dataset& data = *test::fashion_data().test;
  nn::GraphModule masked(r.model);
  masked.eval();
  double worst = 0;
  int64_t differ = 0, seen = 0;
  for (int64_t b0 = 0; b0 < data.size(); b0 += 1000) {  // (1000, 32, 26, 26) activations at most
    const int64_t n = std::min<int64_t>(1000, data.size() - b0);
    std::vector<int64_t> rows(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) rows[i] = b0 + i;
    const Tensor x = data.get_batch(rows).x.reshape({n, 1, 28, 28});
    const Tensor ort = test::run_ort(dir.file("shrunk.onnx"), {{"input", x}}).at("logits");
    NoGradGuard no_grad;
    const Tensor t = masked.forward({{"input", Variable(x)}}).at("logits").value();
    ASSERT_EQ(t.shape(), ort.shape());
    for (int64_t i = 0; i < n; ++i) {
      int64_t ia = 0, ib = 0;
      for (int64_t k = 0; k < 10; ++k) {
        worst = std::max(worst, std::fabs(t.at(i * 10 + k) - ort.at(i * 10 + k)));
        if (t.at(i * 10 + k) > t.at(i * 10 + ia)) ia = k;
        if (ort.at(i * 10 + k) > ort.at(i * 10 + ib)) ib = k;
      }
      differ += ia != ib;
    }
    seen += n;
  }
  EXPECT_EQ(seen, 10000);
  record("max_abs_logit_difference", worst);
  EXPECT_LE(worst, 1e-4);
  EXPECT_EQ(differ, 0);
}

#endif  // TAMP_HAVE_EXPERIMENTS
