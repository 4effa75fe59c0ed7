// The Scheduler from C++ (no recipe): stages in order, masks kept by later stages, a
// calibration-only stage, per-stage records, and errors for what cannot run.
#include "support/ort_runner.h"

#include <tamp/compression/pruning/pruning.h>
#include <tamp/compression/quantization/ptq/static_quantization.h>
#include <tamp/io/idx.h>
#include <tamp/io/onnx_import.h>
#include <tamp/scheduler/scheduler.h>

#include <gtest/gtest.h>

namespace tamp::test {
namespace {

std::shared_ptr<nn::TensorDataset> fashion(bool train, int64_t n) {
  static const nn::TrainTest data = io::fashion_mnist("/usr/share/datasets/fashion-mnist");
  return (train ? data.train : data.test)->slice(0, n);
}

std::map<std::string, int64_t> zeros_of(nn::GraphModule& m) {
  std::map<std::string, int64_t> out;
  for (const auto& [name, p] : m.named_parameters()) {
    const Tensor v = p.value().to(DType::kFloat32);
    int64_t z = 0;
    for (int64_t i = 0; i < v.numel(); ++i) z += v.data<float>()[i] == 0;
    out[name] = z;
  }
  return out;
}

TEST(Scheduler, StagesRunInOrderAndLaterStagesKeepTheMasks) {
  nn::GraphModule model(io::load_onnx_graph(source_dir() + "/tests/data/models/cnn.onnx"));
  compression::PruningOptions po;
  po.pattern = "2:4";
  auto prune = std::make_shared<compression::Pruning>(po);
  Scheduler s;
  s.append(Scheduler::combine({prune}));
  s.append(Stage{.name = "finetune", .optimizer = SGD{.lr = 0.05, .momentum = 0.9}});
  s.append(Stage{.name = "ptq",
                 .components = {std::make_shared<compression::StaticQuantization>()},
                 .calibration_batches = 2});
  std::vector<size_t> began;
  FitOptions o;
  o.train = fashion(true, 256);
  o.eval = fashion(false, 128);
  o.max_steps_per_epoch = 4;
  o.batch_size = 32;
  o.on_stage_begin = [&](size_t k, const Stage&) { began.push_back(k); };
  std::map<std::string, int64_t> after_pruning;
  o.on_stage_end = [&](size_t k, const StageResult&) {
    if (k == 0) after_pruning = zeros_of(model);
  };
  const FitResult r = s.fit(model, o);
  EXPECT_EQ(began, (std::vector<size_t>{0, 1, 2}));
  ASSERT_EQ(r.stages.size(), 3u);
  EXPECT_EQ(r.stages[0].name, "stage0");
  EXPECT_EQ(r.stages[1].name, "finetune");
  EXPECT_EQ(r.stages[0].components, (std::vector<std::string>{"pruning"}));
  EXPECT_EQ(r.stages[0].record.steps, 4);
  EXPECT_EQ(r.stages[1].record.steps, 4);
  EXPECT_TRUE(r.stages[2].calibration_only);
  EXPECT_EQ(r.stages[2].record.steps, 0);
  EXPECT_NEAR(r.stages[0].sparsity, r.stages[1].sparsity, 1e-12);
  EXPECT_GT(r.stages[0].sparsity, 0.4);
  EXPECT_EQ(r.stages[1].weight_bits, 32);
  EXPECT_EQ(r.stages[2].weight_bits, 8);
  EXPECT_LT(r.stages[2].size_bytes, r.stages[1].size_bytes / 3);
  for (const auto& st : r.stages) {
    EXPECT_TRUE(st.record.evaluated);
    EXPECT_EQ(st.record.eval.count, 128);
  }
  // The fine-tuning stage trained (weights moved) but every pruned weight is still zero.
  const auto now = zeros_of(model);
  for (const auto& [name, z] : after_pruning) {
    if (name.find("weight") == std::string::npos || z == 0) continue;
    EXPECT_GE(now.at(name), z) << name;
  }
}

TEST(Scheduler, RefusesWhatCannotRun) {
  nn::GraphModule model(io::load_onnx_graph(source_dir() + "/tests/data/models/cnn.onnx"));
  FitOptions o;
  o.train = fashion(true, 64);
  EXPECT_THROW(Scheduler().fit(model, o), Error);  // no stage
  Scheduler mixed;
  mixed.append(Scheduler::combine(
      {std::make_shared<compression::StaticQuantization>(),
       std::make_shared<compression::Pruning>(compression::PruningOptions{.pattern = "2:4"})}));
  EXPECT_THROW(mixed.fit(model, o), Error);  // calibration and training in one stage
  Scheduler one;
  one.append(Stage{});
  FitOptions resume = o;
  resume.resume = true;
  EXPECT_THROW(one.fit(model, resume), Error);  // resume without a checkpoint path
  EXPECT_THROW(make_lr_schedule({.kind = "onecycle"}, 0.1, 10), Error);
}

}  // namespace
}  // namespace tamp::test
