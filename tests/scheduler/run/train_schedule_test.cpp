// scheduler/train_schedule.h: the length of a stage and the learning rate along it, the rule
// the Trainer, the Scheduler and the CLI commands share; edge cases first, then a Trainer run
// whose logged learning rates follow a cosine over exactly the steps it took.
#include <tamp/io/onnx_import.h>
#include <tamp/nn/data_loader.h>
#include <tamp/scheduler/trainer.h>

#include "support/expect.h"
#include "support/ort_runner.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

namespace tamp::test {
namespace {

TEST(TrainLength, WholeEpochsOrTheLimitWhicheverIsShorter) {
  EXPECT_EQ(train_length(60000, 64, 3, -1).steps_per_epoch, 938);  // the last batch is smaller
  EXPECT_EQ(train_length(60000, 64, 3, -1).total_steps, 2814);
  EXPECT_EQ(train_length(60000, 64, 3, 10).total_steps, 30);
  EXPECT_EQ(train_length(100, 64, 2, 10).steps_per_epoch, 2);  // the limit exceeds the data
}

TEST(TrainLength, EdgeCases) {
  EXPECT_EQ(train_length(1000, 64, 2, 0).total_steps, 0);          // a limit of 0 steps: no step
  EXPECT_EQ(train_length(10, 64, 2, -1).steps_per_epoch, 1);       // fewer examples than a batch
  EXPECT_EQ(train_length(0, 64, 2, -1).total_steps, 0);            // no data
  EXPECT_EQ(train_length(1000, 64, 0, -1).total_steps, 0);         // no epoch
  EXPECT_EQ(train_length(1000, 64, 1, -1, 3).steps_per_epoch, 6);  // 334 examples per rank
  expect_error([] { train_length(1000, 0, 1, -1); }, {"batch size >= 1 (got 0)"});
  expect_error([] { train_length(1000, 64, -1, -1); }, {"epochs >= 0 (got -1)"});
  expect_error([] { train_length(1000, 64, 1, -1, 0); }, {"ranks >= 1 (got 0)"});
}

TEST(TrainLength, AgreesWithTheDataLoader) {
  const auto data = std::make_shared<nn::TensorDataset>(Tensor::zeros({37, 2}),
                                                        Tensor::zeros({37}, DType::kInt64));
  for (int64_t batch : {1, 5, 36, 37, 64}) {
    for (int shards : {1, 2, 4}) {
      nn::DataLoader loader(data, {.batch_size = batch, .prefetch = false, .num_shards = shards});
      EXPECT_EQ(train_length(37, batch, 1, -1, shards).steps_per_epoch, loader.num_batches())
          << "batch " << batch << ", " << shards << " shards";
    }
  }
}

TEST(LrSchedule, ARunOfNoStepGetsASchedule) {
  EXPECT_NO_THROW(make_lr_schedule({.kind = "cosine"}, 0.1, 0));  // a run of no step
}

// The Trainer resolves the schedule over the steps it runs: 2 epochs of min(3, 4) steps.
TEST(LrSchedule, TheTrainerRunsACosineOverItsOwnSteps) {
  nn::GraphModule model(io::load_onnx_graph(source_dir() + "/tests/data/models/mlp.onnx"));
  const nn::ValueInfo& in = model.graph().inputs.at(0);
  Shape shape{100};
  for (size_t i = 1; i < in.shape.size(); ++i) shape.push_back(in.shape[i].value);
  TrainOptions o{.train = std::make_shared<nn::TensorDataset>(Tensor::zeros(shape),
                                                              Tensor::zeros({100}, DType::kInt64)),
                 .epochs = 2,
                 .max_steps_per_epoch = 3,
                 .batch_size = 25,
                 .optimizer = SGD{.lr = 0.1},
                 .lr_schedule = {.kind = "cosine", .eta_min = 0.01},
                 .log_every = 1};
  std::vector<double> lrs;
  o.on_log = [&](const StepLog& log) { lrs.push_back(log.lr); };
  Trainer(model, {}, o).run();
  std::vector<double> want;
  for (int step = 0; step < 6; ++step)
    want.push_back(0.01 + 0.09 * (1 + std::cos(std::numbers::pi * step / 6)) / 2);
  expect_close(lrs, want, {.atol = 1e-12});
}

}  // namespace
}  // namespace tamp::test
