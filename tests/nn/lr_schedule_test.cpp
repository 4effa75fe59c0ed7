// LR schedules against PyTorch 1.13's schedulers (lr read before each of 12 scheduler steps,
// base lr 0.1), printed once and pasted here.
#include <tamp/nn/lr_schedule.h>
#include <tamp/nn/sgd.h>

#include <gtest/gtest.h>

namespace tamp::nn {
namespace {

void expect_schedule(const LrSchedule& s, const std::vector<double>& want) {
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(s.lr_at(static_cast<int64_t>(i)), want[i], 1e-12) << "step " << i;
}

TEST(LrSchedule, StepMatchesTorch) {
  expect_schedule(StepLr(0.1, 3, 0.5),
                  {0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125, 0.0125, 0.0125});
}

TEST(LrSchedule, MultiStepMatchesTorch) {
  expect_schedule(MultiStepLr(0.1, {5, 2}, 0.1),
                  {0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001, 0.001, 0.001, 0.001, 0.001, 0.001});
}

TEST(LrSchedule, CosineAnnealingMatchesTorch) {
  expect_schedule(CosineAnnealingLr(0.1, 10, 0.001),
                  {0.1, 0.0975772975566, 0.0905463412216, 0.0795953699885, 0.0657963412216, 0.0505,
                   0.0352036587784, 0.0214046300115, 0.0104536587784, 0.00342270244339, 0.001,
                   0.00342270244339});
}

TEST(LrSchedule, WarmupThenCosineMatchesTorchSequentialLr) {
  // SequentialLR([LinearLR(start_factor=0.1, total_iters=4), CosineAnnealingLR(T_max=6)], [4])
  LinearWarmup s(std::make_shared<CosineAnnealingLr>(0.1, 6), 4, 0.1);
  expect_schedule(s, {0.01, 0.0325, 0.055, 0.0775, 0.1, 0.0933012701892, 0.075, 0.05, 0.025,
                      0.00669872981078, 0, 0.00669872981078});
}

TEST(LrSchedule, AppliesToAnOptimizerAndRejectsBadArguments) {
  Variable p(Tensor::zeros({2}), true);
  Sgd opt({{"p", p}}, {.lr = 1});
  StepLr(0.2, 2).apply(opt, 3);
  EXPECT_NEAR(opt.lr(), 0.02, 1e-15);
  EXPECT_THROW(StepLr(0.1, 0), Error);
  EXPECT_THROW(CosineAnnealingLr(0.1, 0), Error);
  EXPECT_THROW(LinearWarmup(nullptr, 3), Error);
  EXPECT_THROW(ConstantLr(0.1).lr_at(-1), Error);
  EXPECT_NEAR(LinearWarmup(std::make_shared<ConstantLr>(0.5), 0).lr_at(0), 0.5, 0);
}

}  // namespace
}  // namespace tamp::nn
