#include <tamp/nn/metrics.h>

#include <gtest/gtest.h>

namespace tamp::nn {
namespace {

TEST(Metrics, AccuracyAndTopK) {
  const Tensor logits = Tensor::from_vector<float>({4, 3}, {0.1f, 0.7f, 0.2f,    // argmax 1
                                                            0.5f, 0.2f, 0.3f,    // argmax 0, then 2
                                                            0.3f, 0.3f, 0.1f,    // tie: argmax 0
                                                            0.0f, 0.1f, 0.9f});  // argmax 2, then 1
  const Tensor labels = Tensor::from_vector<int64_t>({4}, {1, 2, 1, 0});
  EXPECT_EQ(count_correct(logits, labels), 1);
  EXPECT_DOUBLE_EQ(accuracy(logits, labels), 0.25);
  EXPECT_DOUBLE_EQ(top_k_accuracy(logits, labels, 2), 0.75);  // example 3's label ranks last
  EXPECT_DOUBLE_EQ(top_k_accuracy(logits, labels, 3), 1.0);
  EXPECT_THROW(accuracy(logits, Tensor::from_vector<int64_t>({4}, {1, 2, 3, 0})), Error);
  EXPECT_THROW(accuracy(logits, Tensor::from_vector<float>({4}, {1, 2, 1, 0})), Error);
}

TEST(Metrics, RunningMeanIsWeighted) {
  RunningMean m;
  EXPECT_EQ(m.mean(), 0.0);
  m.add(1.0, 3);
  m.add(3.0, 1);
  EXPECT_DOUBLE_EQ(m.mean(), 1.5);
  m.reset();
  m.add(2.0);
  EXPECT_DOUBLE_EQ(m.mean(), 2.0);
}

}  // namespace
}  // namespace tamp::nn
