// Criteria on hand-made tensors, and schedules: curves and the steps they update at.
#include <tamp/compression/pruning/criteria.h>
#include <tamp/compression/pruning/schedule.h>

#include <gtest/gtest.h>

#include <cmath>

using namespace tamp;
using namespace tamp::compression::pruning;

namespace {

Tensor vec(std::vector<float> v) {
  return Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v);
}

std::vector<float> scores(const ScoreTracker& t, const Tensor& w) {
  return t.scores(w).to_vector<float>();
}

}  // namespace

TEST(PruningCriteria, MagnitudeIsAbsoluteValue) {
  ScoreTracker t(Criterion::kMagnitude);
  t.observe(vec({1, 2}), vec({5, 5}));  // ignored
  EXPECT_EQ(scores(t, vec({-3, 0.5, 0})), (std::vector<float>{3, 0.5, 0}));
}

TEST(PruningCriteria, GradientAveragesSinceTheLastUpdate) {
  ScoreTracker t(Criterion::kGradient);
  const Tensor w = vec({2, -1, 4});
  t.observe(w, vec({1, 1, -1}));
  t.observe(w, vec({3, -1, -1}));
  // |w * mean(g)| = |2*2|, |-1*0|, |4*-1|
  EXPECT_EQ(scores(t, w), (std::vector<float>{4, 0, 4}));
  t.after_update();
  EXPECT_THROW(t.scores(w), Error);  // no gradient since the update
  t.observe(w, vec({0.5, 1, 0}));
  EXPECT_EQ(scores(t, w), (std::vector<float>{1, 1, 0}));
}

TEST(PruningCriteria, SnipUsesTheLatestGradient) {
  ScoreTracker t(Criterion::kSnip);
  const Tensor w = vec({2, -1});
  t.observe(w, vec({10, 10}));
  t.observe(w, vec({-1, 3}));
  EXPECT_EQ(scores(t, w), (std::vector<float>{2, 3}));
  t.after_update();
  EXPECT_EQ(scores(t, w), (std::vector<float>{2, 3}));  // not reset
}

TEST(PruningCriteria, SnipMomentumDecaysByNineTenths) {
  ScoreTracker t(Criterion::kSnipMomentum);
  const Tensor w = vec({1, -2});
  t.observe(w, vec({1, 1}));  // s = |w g| = {1, 2}
  t.observe(w, vec({2, 0}));  // s = 0.9 s + {2, 0} = {2.9, 1.8}
  const auto s = scores(t, w);
  EXPECT_NEAR(s[0], 2.9f, 1e-6);
  EXPECT_NEAR(s[1], 1.8f, 1e-6);
  t.after_update();
  EXPECT_NEAR(scores(t, w)[0], 2.9f, 1e-6);
}

TEST(PruningCriteria, MovementRewardsWeightsMovingAwayFromZero) {
  ScoreTracker t(Criterion::kMovement);
  // SGD moves w by -lr g: w=1, g=-1 grows |w| (score +1); w=1, g=+1 shrinks it (score -1).
  const Tensor w = vec({1, 1, -2});
  t.observe(w, vec({-1, 1, 0.5}));
  EXPECT_EQ(scores(t, w), (std::vector<float>{1, -1, 1}));
  t.observe(w, vec({-1, 1, 0.5}));
  EXPECT_EQ(scores(t, w), (std::vector<float>{2, -2, 2}));
}

TEST(PruningCriteria, GradientCriteriaNeedAGradient) {
  for (Criterion c :
       {Criterion::kGradient, Criterion::kSnip, Criterion::kSnipMomentum, Criterion::kMovement}) {
    ScoreTracker t(c);
    EXPECT_THROW(t.scores(vec({1})), Error) << criterion_name(c);
    EXPECT_THROW(t.observe(vec({1, 2}), vec({1})), Error);
  }
  EXPECT_EQ(parse_criterion("snip-momentum"), Criterion::kSnipMomentum);
  EXPECT_THROW(parse_criterion("random"), Error);
}

TEST(PruningSchedule, CurvesStartAtInitialAndEndExactlyAtFinal) {
  for (Curve c : {Curve::kLinear, Curve::kCubic, Curve::kExponential, Curve::kCosine}) {
    EXPECT_DOUBLE_EQ(curve_value(c, 0, 0.1, 0.9), 0.1) << curve_name(c);
    EXPECT_EQ(curve_value(c, 1, 0.1, 0.9), 0.9) << curve_name(c);
    double prev = 0.1;
    for (double p = 0.05; p < 1; p += 0.05) {
      const double v = curve_value(c, p, 0.1, 0.9);
      EXPECT_GT(v, prev) << curve_name(c) << " p " << p;
      prev = v;
    }
  }
  EXPECT_DOUBLE_EQ(curve_value(Curve::kLinear, 0.5, 0, 0.8), 0.4);
  EXPECT_DOUBLE_EQ(curve_value(Curve::kCubic, 0.5, 0, 0.8), 0.8 - 0.8 * 0.125);
  EXPECT_NEAR(curve_value(Curve::kExponential, 0.5, 0, 0.75), 1 - std::sqrt(0.25), 1e-12);
  EXPECT_NEAR(curve_value(Curve::kCosine, 0.5, 0, 0.8), 0.4, 1e-12);
  EXPECT_EQ(curve_value(Curve::kOneShot, 0.01, 0, 0.8), 0.8);
}

TEST(PruningSchedule, UpdatesAtStartEveryFrequencyAndEnd) {
  const ScheduleClock c(Schedule::gradual(Curve::kCubic, 10, 35, 10), 100);
  std::vector<int64_t> updates;
  for (int64_t s = 0; s < 100; ++s)
    if (c.is_update(s)) updates.push_back(s);
  EXPECT_EQ(updates, (std::vector<int64_t>{10, 20, 30, 35}));
  EXPECT_EQ(c.target(5, 0, 0.9), 0);
  EXPECT_EQ(c.target(10, 0, 0.9), 0);
  EXPECT_DOUBLE_EQ(c.target(20, 0, 0.9), curve_value(Curve::kCubic, 10.0 / 25, 0, 0.9));
  EXPECT_DOUBLE_EQ(c.target(29, 0, 0.9), c.target(20, 0, 0.9));  // holds between updates
  EXPECT_EQ(c.target(35, 0, 0.9), 0.9);
  EXPECT_EQ(c.target(99, 0, 0.9), 0.9);
}

TEST(PruningSchedule, EpochsConvertToSteps) {
  const ScheduleClock c(Schedule::gradual_epochs(Curve::kLinear, 1, 3, 50), 100);
  EXPECT_EQ(c.start(), 100);
  EXPECT_EQ(c.end(), 299);  // the last step of the third epoch
  const ScheduleClock one(Schedule::one_shot(7), 0);
  EXPECT_EQ(one.start(), 7);
  EXPECT_EQ(one.end(), 7);
  EXPECT_TRUE(one.is_update(7));
  EXPECT_FALSE(one.is_update(8));
  Schedule s = Schedule::one_shot();
  s.start_epoch = 2;
  EXPECT_EQ(ScheduleClock(s, 10).start(), 20);
}

TEST(PruningSchedule, RejectsBadSchedules) {
  EXPECT_THROW(ScheduleClock(Schedule::gradual(Curve::kLinear, 10, 5), 1), Error);
  EXPECT_THROW(ScheduleClock(Schedule::gradual(Curve::kLinear, -1, 5), 1), Error);
  EXPECT_THROW(ScheduleClock(Schedule::gradual(Curve::kLinear, 0, 5, 0), 1), Error);
  EXPECT_THROW(ScheduleClock(Schedule::gradual_epochs(Curve::kLinear, 0, 2), 0), Error);
  EXPECT_THROW(parse_curve("quadratic"), Error);
  EXPECT_EQ(parse_curve("exp"), Curve::kExponential);
}
