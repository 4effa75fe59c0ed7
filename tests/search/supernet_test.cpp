// The weight-sharing super-network: the sandwich rule's genomes, and a step that trains a
// sub-network changes only the weights that sub-network uses.
#include <tamp/compression/search/supernet.h>
#include <tamp/scheduler/trainer.h>

#include "search/search_test_support.h"

#include <gtest/gtest.h>

using namespace tamp;
using namespace tamp::compression::search;

namespace {

std::shared_ptr<nn::TensorDataset> random_data(int64_t n) {
  Tensor y = Tensor::empty({n}, DType::kInt64);
  for (int64_t i = 0; i < n; ++i) y.data<int64_t>()[i] = i % 10;
  return std::make_shared<nn::TensorDataset>(test::random_tensor({n, 1, 28, 28}, 21), y);
}

TEST(SuperNet, StepsTrainOnlyTheSampledSubNetwork) {
  nn::GraphModule model(test::test_model("cnn"));
  auto sn = std::make_shared<SuperNet>(
      SuperNetOptions{.space = {.width_ratios = {0.25, 0.5, 1}}, .seed = 3});
  std::vector<std::map<std::string, Tensor>> after;  // parameter values after each step
  TrainOptions t;
  t.train = random_data(64);
  t.epochs = 1;
  t.max_steps_per_epoch = 3;
  t.batch_size = 16;
  t.on_step_end = [&](const TrainCheckpointView& v) {
    std::map<std::string, Tensor> values;
    for (const auto& [name, p] : v.trained) values[name] = p.value().clone();
    after.push_back(values);
  };
  Trainer(model, {sn}, t).run();
  ASSERT_EQ(after.size(), 3u);
  const SearchSpace& s = sn->space();
  // Step 1 trained the smallest sub-network: removed rows of conv1 kept their values from
  // after step 0, kept rows moved.
  const auto masks = s.masks(s.smallest(), model.graph());
  const Tensor& m = masks.at("conv1.weight");
  const Tensor& before = after[0].at("conv1.weight");
  const Tensor& now = after[1].at("conv1.weight");
  int64_t frozen = 0, moved = 0;
  for (int64_t i = 0; i < m.numel(); ++i) {
    if (m.at(i) == 0) {
      EXPECT_EQ(now.at(i), before.at(i)) << i;
      ++frozen;
    } else {
      moved += now.at(i) != before.at(i);
    }
  }
  EXPECT_EQ(frozen, 24 * 9);  // 32 -> 8 channels
  EXPECT_GT(moved, 8 * 9 / 2);
  // The largest sub-network (step 0) moved every conv1 weight; finalize left no mask behind.
  const Tensor initial = test::test_model("cnn").initializers.at("conv1.weight");
  int64_t unchanged = 0;
  for (int64_t i = 0; i < initial.numel(); ++i)
    unchanged += after[0].at("conv1.weight").at(i) == initial.at(i);
  EXPECT_LT(unchanged, 5);
  EXPECT_EQ(sn->genome_at(0), s.largest());
  EXPECT_EQ(sn->genome_at(4), s.largest());
  EXPECT_EQ(sn->genome_at(5), s.smallest());
  EXPECT_EQ(model.graph().initializers.at("conv1.weight").shape(), (Shape{32, 1, 3, 3}));
}

}  // namespace
