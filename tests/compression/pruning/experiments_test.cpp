// The Fashion-MNIST experiments behind the README's figures (examples/compression_experiments)
// on a few hundred images and a few steps: every pruning run starts from the same baseline
// and leaves it untouched (a GraphModule trains its initializers in place and a Graph copy
// shares their storage, so without a deep copy each run continued the previous one's weights).
#ifdef TAMP_HAVE_EXPERIMENTS

#include "compression_experiments.h"

#include "compression/pruning/prune_test_support.h"

#include <gtest/gtest.h>

using namespace tamp;
using namespace tamp::compression::pruning;

namespace {

nn::TrainTest small_fashion() {
  std::vector<int64_t> rows(256);
  for (int64_t i = 0; i < 256; ++i) rows[i] = i;
  const nn::Batch train = test::fashion_data().train->get_batch(rows);
  const nn::Batch eval = test::fashion_data().test->get_batch(rows);
  return {std::make_shared<nn::TensorDataset>(train.x, train.y),
          std::make_shared<nn::TensorDataset>(eval.x, eval.y)};
}

std::map<std::string, std::vector<float>> weights(const nn::Graph& g) {
  std::map<std::string, std::vector<float>> w;
  for (const auto& [name, t] : g.initializers) {
    if (t.dtype() == DType::kFloat32) w[name] = t.to_vector<float>();
  }
  return w;
}

}  // namespace

TEST(PruningExperiments, EveryRunStartsFromTheSameBaselineAndLeavesItUntouched) {
  const nn::TrainTest data = small_fashion();
  examples::ExperimentOptions o;
  o.base_epochs = 1;
  o.finetune_epochs = 2;
  o.max_steps_per_epoch = 3;
  o.batch_size = 32;
  const examples::Baseline base = examples::train_baseline(test::model_file("cnn"), data, o);
  const auto before = weights(base.trained);
  const auto a = examples::run_pruning(base, data, "2:4", Criterion::kMagnitude, o);
  EXPECT_TRUE(weights(base.trained) == before) << "the baseline trained along with the run";
  const auto b = examples::run_pruning(base, data, "2:4", Criterion::kMagnitude, o);
  EXPECT_EQ(a.top1, b.top1);
  EXPECT_TRUE(weights(a.model) == weights(b.model)) << "the second run continued the first";
  EXPECT_TRUE(a.pattern_valid);
  // A channel run after a 2:4 run prunes channels of every prunable layer, not only of the
  // layers the 2:4 zeros left alone.
  const auto c = examples::run_pruning(base, data, "channel", Criterion::kMagnitude, o, 0.5);
  EXPECT_TRUE(c.pattern_valid);
  EXPECT_EQ(c.shrink.layers.size(), 3u);
}

#endif  // TAMP_HAVE_EXPERIMENTS
