// Self-distillation on Fashion-MNIST from scratch (cnn_half.onnx with the README's two heads,
// 6 windows of 150 steps): every loss term's mean over the last window is below its mean over
// the first. The KD terms start near 0 (the model's logits and the heads are both near
// uniform), peak while the logits sharpen, and fall once the heads follow. With the old head
// (global average pool + one Linear) the first block's KD term keeps rising instead, which the
// second test pins down, so the first one can fail.
#include <tamp/compression/distillation/self_distillation.h>
#include <tamp/nn/lr_schedule.h>
#include <tamp/scheduler/trainer.h>

#include "compression/pruning/prune_test_support.h"

#include <gtest/gtest.h>

using namespace tamp;
using namespace tamp::compression;

namespace {

// Windows of `steps` steps each (one capped "epoch" per window), SGD as in the experiments.
std::vector<std::map<std::string, double>> windows(SelfDistillationOptions options, int count,
                                                   int64_t steps) {
  nn::GraphModule m(io::load_onnx_graph(test::model_file("cnn_half")));
  options.pairs = {{.shallow = "/MaxPool_output_0"}, {.shallow = "/MaxPool_1_output_0"}};
  auto sd = std::make_shared<SelfDistillation>(options);
  TrainOptions t;
  t.train = test::fashion_data().train;
  t.epochs = count;
  t.max_steps_per_epoch = steps;
  t.batch_size = 64;
  t.optimizer = SGD{.lr = 0.01, .momentum = 0.9};
  t.lr_schedule = {.kind = "cosine", .eta_min = 0.0005};
  t.seed = 1;
  t.log_every = 1 << 30;
  Trainer(m, {sd}, t).run();
  return sd->history();
}

std::string describe(const std::vector<std::map<std::string, double>>& h) {
  std::string s;
  for (const auto& w : h) {
    s += "[";
    for (const auto& [term, v] : w) s += fmt::format(" {} {:.4f}", term, v);
    s += " ] ";
  }
  return s;
}

}  // namespace

TEST(SelfDistillationFashionMnist, EveryTermFallsFromTheFirstWindowToTheLast) {
  const auto h = windows({.temperature = 3}, 6, 150);
  RecordProperty("windows", describe(h));
  ASSERT_EQ(h.size(), 6u);
  for (const char* term : {"head0.kd", "head0.ce", "head1.kd", "head1.ce", "total"}) {
    ASSERT_TRUE(h.front().count(term)) << term;
    EXPECT_LT(h.back().at(term), h.front().at(term)) << term << ": " << describe(h);
  }
}

// The failure the head design fixes: a global-pooled linear head on the 16-channel first block
// cannot follow the sharpening logits, so its KD term grows.
TEST(SelfDistillationFashionMnist, AGlobalPooledLinearHeadOnTheFirstBlockFallsBehind) {
  const auto h = windows({.temperature = 3, .head_grid = 1, .head_hidden = 0}, 3, 150);
  RecordProperty("windows", describe(h));
  ASSERT_EQ(h.size(), 3u);
  EXPECT_GT(h.back().at("head0.kd"), h.front().at("head0.kd")) << describe(h);
}
