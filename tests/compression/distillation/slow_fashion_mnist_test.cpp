// The half-width student on Fashion-MNIST, alone and with the wide teacher (label "slow"):
// every distillation run completes, its losses fall, and the accuracies are recorded.
// examples/prune_distill_figures prints the same runs as the README's table.
#ifdef TAMP_HAVE_EXPERIMENTS

#include "compression_experiments.h"

#include "compression/pruning/prune_test_support.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

using namespace tamp;

TEST(SlowDistillationFashionMnist, StudentWithTeacherAgainstStudentAlone) {
  double teacher = 0;
  const auto rows =
      examples::run_distillation(test::source_dir(), test::fashion_data(), {}, &teacher);
  ASSERT_EQ(rows.size(), 4u);
  RecordProperty("teacher_top1", fmt::format("{:.4f}", teacher));
  const double alone = rows[0].top1;
  for (const auto& r : rows) {
    RecordProperty(r.setting, fmt::format("{:.4f}", r.top1));
    EXPECT_GT(r.top1, 0.8) << r.setting;
    if (&r == &rows[0]) continue;
    ASSERT_GE(r.history.size(), 2u) << r.setting;
    const auto& first = r.history.front();
    const auto& last = r.history.back();
    // Every term: the teacher's, and self-distillation's heads (labels and the model's own
    // logits) too. The first epoch's mean is the first window, the last epoch's the last.
    for (const auto& [term, v] : first) {
      RecordProperty(r.setting + " " + term, fmt::format("{:.4f} -> {:.4f}", v, last.at(term)));
      EXPECT_LT(last.at(term), v) << r.setting << " " << term;
    }
    EXPECT_GE(r.top1, alone - 0.01) << r.setting;  // distillation must not break the student
  }
}

#endif  // TAMP_HAVE_EXPERIMENTS
