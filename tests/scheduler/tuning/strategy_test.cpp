// Each strategy on synthetic problems with a known optimum (tuning_test_support.h).
#include <tamp/scheduler/tuning/tuner.h>

#include "tuning_test_support.h"

#include <gtest/gtest.h>

namespace tamp::tuning {
namespace {

using test::BowlToy;
using test::FallbackToy;

// Ops 1 and 4 are the sensitive ones: with the criterion "absolute:0.05" the smallest
// config meeting it keeps exactly those two in fp32 (the others cost 0.045 together).
const std::vector<double> kPenalties{0.01, 0.2, 0.015, 0.01, 0.1, 0.01};
const Config kOptimum{0, 1, 0, 0, 1, 0};

TunerOptions first_meet(int max_trials) {
  return {.criterion = AccuracyCriterion::parse("absolute:0.05"),
          .exit = {.max_trials = max_trials}};
}

TEST(FallbackStrategies, BasicFallsBackTheSensitiveOps) {
  FallbackToy toy(kPenalties);
  auto s = make_strategy("basic");
  TuningResult r = tune(toy, *s, first_meet(100));
  ASSERT_TRUE(r.met) << r.message;
  EXPECT_EQ(r.best->config, kOptimum);
  // all int8, then 6 single fallbacks (sensitivity), then {op1} (already tried: answered
  // without a trial), {op1, op4}
  EXPECT_EQ(r.trials, 1 + 6 + 1);
  EXPECT_EQ(toy.evaluations, 8);
  EXPECT_EQ(r.stop_reason, "criterion met");
  ASSERT_EQ(r.fallbacks.size(), 2u);
  EXPECT_EQ(r.fallbacks[0].op, "op1");
  ASSERT_TRUE(r.fallbacks[0].accuracy_alone.has_value());
  EXPECT_NEAR(*r.fallbacks[0].accuracy_alone, 0.855, 1e-9);  // 1 - 0.345 + 0.2
}

TEST(FallbackStrategies, MseSpendsNoTrialsOnSensitivity) {
  FallbackToy toy(kPenalties);
  auto s = make_strategy("mse");
  TuningResult r = tune(toy, *s, first_meet(100));
  ASSERT_TRUE(r.met) << r.message;
  EXPECT_EQ(r.best->config, kOptimum);
  EXPECT_EQ(r.trials, 3);  // all int8, {op1}, {op1, op4}
}

TEST(FallbackStrategies, BasicTriesGlobalOptionsBeforeFallingBack) {
  // A non-default calibration halves every penalty: all-int8 with it loses 0.1725 (> 0.05),
  // so fallback still follows, from the better base.
  FallbackToy toy(kPenalties, {"minmax", "entropy"});
  auto s = make_strategy("basic");
  TuningResult r = tune(toy, *s, first_meet(100));
  ASSERT_TRUE(r.met) << r.message;
  EXPECT_EQ(r.history[1].config,
            (Config{0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1}));  // the global change
  // base with entropy everywhere: {op1} alone meets? loss 0.0725 - no; {op1, op4}: 0.0225
  EXPECT_EQ(r.best->config[1], 1);
  EXPECT_EQ(r.best->config[4], 1);
}

TEST(FallbackStrategies, KeepImprovingRequantizesNeedlessFallbacks) {
  // Sensitivity by MSE is misleading here (op0 ranked first) and cumulative fallback takes
  // op0 along; refinement re-quantizes it.
  struct Misleading : FallbackToy {
    using FallbackToy::FallbackToy;
    std::map<int, double> quantization_error() override { return {{0, 3.0}, {1, 2.0}, {2, 1.0}}; }
  } misled({0.2, 0.01, 0.3});
  auto s = make_strategy("mse");
  TuningResult r = tune(misled, *s,
                        {.criterion = AccuracyCriterion::parse("absolute:0.05"),
                         .exit = {.max_trials = 50, .stop_at_first = false}});
  ASSERT_TRUE(r.met) << r.message;
  EXPECT_EQ(r.best->config, (Config{1, 0, 1}));
}

// Ops with three precisions: int8 costs penalty[i] accuracy and 1 size unit, bf16 costs
// bf16_penalty[i] and 2 units, fp32 nothing and 4 units.
class PrecisionToy : public TuningProblem {
 public:
  PrecisionToy(std::vector<double> penalty, std::vector<double> bf16_penalty)
      : penalty_(std::move(penalty)), bf16_penalty_(std::move(bf16_penalty)) {
    for (size_t i = 0; i < penalty_.size(); ++i) {
      space_.add({.name = "op" + std::to_string(i) + ":quantize",
                  .target = "op" + std::to_string(i),
                  .knob = "quantize",
                  .kind = DimensionKind::kFallback,
                  .values = {"int8", "bf16", "fp32"}});
    }
  }
  const TuningSpace& space() const override { return space_; }
  Outcome baseline() override { return {1.0, 4.0 * static_cast<double>(penalty_.size())}; }
  Outcome evaluate(const Config& c) override {
    double acc = 1, size = 0;
    for (size_t i = 0; i < penalty_.size(); ++i) {
      acc -= c[i] == 0 ? penalty_[i] : c[i] == 1 ? bf16_penalty_[i] : 0;
      size += c[i] == 0 ? 1 : c[i] == 1 ? 2 : 4;
    }
    return {acc, size};
  }
  std::map<int, double> quantization_error() override {
    std::map<int, double> m;
    for (size_t i = 0; i < penalty_.size(); ++i) m[static_cast<int>(i)] = penalty_[i];
    return m;
  }

 private:
  std::vector<double> penalty_, bf16_penalty_;
  TuningSpace space_;
};

TEST(FallbackStrategies, SensitiveOpsFallBackToBf16WhenItIsEnough) {
  for (const std::string name : {"basic", "mse"}) {
    PrecisionToy toy(kPenalties, std::vector<double>(kPenalties.size(), 0.001));
    auto s = make_strategy(name);
    TuningResult r = tune(toy, *s, first_meet(100));
    ASSERT_TRUE(r.met) << name << ": " << r.message;
    EXPECT_EQ(r.best->config, (Config{0, 1, 0, 0, 1, 0})) << name;  // ops 1 and 4 in bf16, not fp32
    ASSERT_EQ(r.fallbacks.size(), 2u) << name;
    EXPECT_EQ(r.fallbacks[0].precision, "bf16") << name;
  }
}

TEST(FallbackStrategies, AnOpBf16HurtsFallsBackToFp32AndRefinementMovesTheOthersToBf16) {
  // op1 loses as much in bf16 as in int8: bf16 everywhere misses, so the fallback widens to
  // fp32 ({op1, op4} in fp32 meets); refinement then moves op4 down to bf16, which still meets.
  std::vector<double> bf16(kPenalties.size(), 0.001);
  bf16[1] = 0.2;
  for (const std::string name : {"basic", "mse"}) {
    PrecisionToy toy(kPenalties, bf16);
    auto s = make_strategy(name);
    TuningResult r = tune(toy, *s,
                          {.criterion = AccuracyCriterion::parse("absolute:0.05"),
                           .exit = {.max_trials = 100, .stop_at_first = false}});
    ASSERT_TRUE(r.met) << name << ": " << r.message;
    EXPECT_EQ(r.best->config, (Config{0, 2, 0, 0, 1, 0})) << name;
    ASSERT_EQ(r.fallbacks.size(), 2u) << name;
    EXPECT_EQ(r.fallbacks[0].precision, "fp32") << name;
    EXPECT_EQ(r.fallbacks[1].precision, "bf16") << name;
  }
}

// Sparsity levels with a known best: accuracy 1 - sum w_i s_i^2, objective sum (1 - s_i).
class SparsityToy : public TuningProblem {
 public:
  SparsityToy() {
    for (int i = 0; i < 3; ++i) {
      space_.add({.name = "w" + std::to_string(i) + ":sparsity",
                  .knob = "sparsity",
                  .kind = DimensionKind::kSparsity,
                  .values = {"0", "0.25", "0.5", "0.75"}});
    }
  }
  const TuningSpace& space() const override { return space_; }
  Outcome baseline() override { return {1.0, 3.0}; }
  Outcome evaluate(const Config& c) override {
    const double w[3] = {0.1, 0.4, 2.0};
    double acc = 1, obj = 0;
    for (size_t i = 0; i < 3; ++i) {
      const double s = 0.25 * c[i];
      acc -= w[i] * s * s;
      obj += 1 - s;
    }
    return {acc, obj};
  }

 private:
  TuningSpace space_;
};

TEST(FallbackStrategies, KeepImprovingRaisesSparsityGreedily) {
  for (const std::string name : {"basic", "mse"}) {
    SparsityToy toy;
    auto s = make_strategy(name);
    TuningResult r = tune(toy, *s,
                          {.criterion = AccuracyCriterion::parse("absolute:0.1"),
                           .exit = {.max_trials = 50, .stop_at_first = false}});
    ASSERT_TRUE(r.met) << name;
    EXPECT_EQ(r.best->config, (Config{3, 1, 0})) << name;  // the best under the budget 0.1
    EXPECT_EQ(r.stop_reason, "strategy exhausted") << name;
  }
}

TEST(Exhaustive, VisitsEveryCanonicalConfigOnce) {
  FallbackToy toy({0.1, 0.2}, {"a", "b", "c"});
  auto s = make_strategy("exhaustive");
  TuningResult r = tune(toy, *s,
                        {.criterion = AccuracyCriterion::parse("absolute:0.05"),
                         .exit = {.max_trials = 1000, .stop_at_first = false}});
  // per op: int8 with 3 options, or fp32 -> 4 x 4
  EXPECT_EQ(r.trials, 16);
  EXPECT_EQ(toy.evaluations, 16);
  EXPECT_EQ(r.stop_reason, "strategy exhausted");
  ASSERT_TRUE(r.met);
  EXPECT_EQ(r.best->config, (Config{0, 1, 1, 0}));  // op0 int8 with a halving option (loss 0.05)
}

TEST(Exhaustive, FindsTheFallbackOptimum) {
  FallbackToy toy(kPenalties);
  auto s = make_strategy("exhaustive");
  TuningResult r = tune(toy, *s,
                        {.criterion = AccuracyCriterion::parse("absolute:0.05"),
                         .exit = {.max_trials = 64, .stop_at_first = false}});
  ASSERT_TRUE(r.met);
  EXPECT_EQ(r.best->config, kOptimum);
}

TEST(Random, NeverRepeatsAndStopsWhenExhausted) {
  FallbackToy toy({0.1, 0.2, 0.3});
  auto s = make_strategy("random", 3);
  TuningResult r = tune(toy, *s,
                        {.criterion = AccuracyCriterion::parse("absolute:0.1"),
                         .exit = {.max_trials = 100, .stop_at_first = false}});
  EXPECT_EQ(r.trials, 8);
  EXPECT_EQ(toy.evaluations, 8);
  EXPECT_EQ(r.stop_reason, "strategy exhausted");
  ASSERT_TRUE(r.met);
  // op0 alone quantized loses 0.1; all fp32 loses nothing but is no answer
  EXPECT_EQ(r.best->config, (Config{0, 1, 1}));
}

// Mean over seeds of the best objective each strategy reaches in `trials` trials.
double mean_best(const std::string& strategy, int trials, int seeds) {
  double sum = 0;
  for (int seed = 0; seed < seeds; ++seed) {
    BowlToy toy(5, 7, {5, 1, 3, 6, 2});  // 16807 configurations, optimum 1
    auto s = make_strategy(strategy, static_cast<uint64_t>(seed));
    TuningResult r = tune(toy, *s,
                          {.criterion = AccuracyCriterion::parse("relative:0.01"),
                           .exit = {.max_trials = trials, .stop_at_first = false}});
    EXPECT_EQ(r.trials, trials);
    sum += r.best->outcome.objective;
  }
  return sum / seeds;
}

TEST(ModelBased, BayesianAndTpeBeatRandomOnABowl) {
  const double random = mean_best("random", 30, 8);
  const double bayes = mean_best("bayesian", 30, 8);
  const double tpe = mean_best("tpe", 30, 8);
  RecordProperty("random", std::to_string(random));
  RecordProperty("bayesian", std::to_string(bayes));
  RecordProperty("tpe", std::to_string(tpe));
  std::printf(
      "mean best objective after 30 trials over 8 seeds (optimum 1): random %.2f, bayesian %.2f, "
      "tpe %.2f\n",
      random, bayes, tpe);
  EXPECT_LT(bayes, random);
  EXPECT_LT(tpe, random);
  EXPECT_LT(bayes, 4.0);  // the GP gets near the optimum, not merely ahead of random
}

TEST(ModelBased, BayesianFindsTheFallbackOptimum) {
  FallbackToy toy(kPenalties);
  for (const std::string name : {"bayesian", "tpe"}) {
    auto s = make_strategy(name, 1);
    TuningResult r = tune(toy, *s,
                          {.criterion = AccuracyCriterion::parse("absolute:0.05"),
                           .exit = {.max_trials = 40, .stop_at_first = false}});
    ASSERT_TRUE(r.met) << name;
    EXPECT_EQ(r.best->config, kOptimum) << name;
  }
}

TEST(Strategies, UnknownNameListsTheKnownOnes) {
  try {
    make_strategy("annealing");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("basic, mse, exhaustive, random, bayesian, tpe"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace tamp::tuning
