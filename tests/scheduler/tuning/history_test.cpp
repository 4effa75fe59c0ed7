// tuning.jsonl: resuming without re-evaluating, torn lines, other spaces refused; the
// tuner's bad-input behaviour (unreachable criterion, empty space, one-candidate values).
#include <tamp/scheduler/tuning/history.h>
#include <tamp/scheduler/tuning/tuner.h>

#include "support/temp_dir.h"
#include "tuning_test_support.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

namespace tamp::tuning {
namespace {

using test::BowlToy;
using test::FallbackToy;
using test::TempDir;

TunerOptions keep_going(int max_trials, const std::string& history) {
  return {.criterion = AccuracyCriterion::parse("absolute:0.05"),
          .exit = {.max_trials = max_trials, .stop_at_first = false},
          .history = history};
}

int count_lines(const std::string& path) {
  std::ifstream in(path);
  int n = 0;
  for (std::string l; std::getline(in, l);) n += !l.empty();
  return n;
}

class Resume : public ::testing::TestWithParam<std::string> {};

TEST_P(Resume, StoppedAfterKTrialsThenRestartedEvaluatesNoFinishedTrial) {
  const std::string name = GetParam();
  TempDir dir;
  const std::string file = dir.file("tuning.jsonl");
  const std::vector<double> penalties{0.01, 0.2, 0.015, 0.01, 0.1, 0.01};
  const std::vector<std::string> options{"minmax", "entropy", "mse"};
  const int total = 14;
  // The uninterrupted run, for reference; the first run stops halfway through it.
  FallbackToy ref(penalties, options);
  auto s0 = make_strategy(name, 7);
  TuningResult whole = tune(ref, *s0, keep_going(total, ""));
  ASSERT_GE(whole.trials, 4) << name;
  const int k = whole.trials / 2;

  FallbackToy first(penalties, options);
  auto s1 = make_strategy(name, 7);
  TuningResult a = tune(first, *s1, keep_going(k, file));
  EXPECT_EQ(first.evaluations, k);
  EXPECT_EQ(count_lines(file), 2 + k);  // header, baseline, one line per trial

  FallbackToy second(penalties, options);
  auto s2 = make_strategy(name, 7);
  TuningResult b = tune(second, *s2, keep_going(total, file));
  EXPECT_EQ(second.evaluations, whole.trials - k);  // the k finished trials are not evaluated again
  EXPECT_EQ(b.resumed, k);
  EXPECT_EQ(b.trials, whole.trials);
  ASSERT_EQ(b.history.size(), whole.history.size());
  for (size_t i = 0; i < b.history.size(); ++i) {
    EXPECT_EQ(b.history[i].config, whole.history[i].config) << "trial " << i;
    EXPECT_EQ(b.history[i].resumed, i < static_cast<size_t>(k));
  }
  EXPECT_EQ(b.best->config, whole.best->config);
  EXPECT_EQ(count_lines(file), 2 + whole.trials);
}

INSTANTIATE_TEST_SUITE_P(EveryStrategy, Resume,
                         ::testing::Values("basic", "mse", "exhaustive", "random", "bayesian",
                                           "tpe"));

TEST(History, TornLastLineIsIgnoredAndTheTrialRunsAgain) {
  TempDir dir;
  const std::string file = dir.file("tuning.jsonl");
  FallbackToy toy({0.1, 0.2, 0.3});
  auto s = make_strategy("exhaustive");
  tune(toy, *s, keep_going(3, file));
  {
    std::ofstream out(file, std::ios::app);
    out << R"({"trial": 3, "config": {"op0:quan)";  // killed mid-write
  }
  FallbackToy again({0.1, 0.2, 0.3});
  auto s2 = make_strategy("exhaustive");
  TuningResult r = tune(again, *s2, keep_going(5, file));
  EXPECT_EQ(r.resumed, 3);
  EXPECT_EQ(again.evaluations, 2);
  // and the file reads cleanly once more
  FallbackToy third({0.1, 0.2, 0.3});
  auto s3 = make_strategy("exhaustive");
  TuningResult r3 = tune(third, *s3, keep_going(5, file));
  EXPECT_EQ(third.evaluations, 0);
  EXPECT_EQ(r3.resumed, 5);
}

TEST(History, AnotherSpaceIsRefused) {
  TempDir dir;
  const std::string file = dir.file("tuning.jsonl");
  FallbackToy toy({0.1, 0.2, 0.3});
  auto s = make_strategy("basic");
  tune(toy, *s, keep_going(2, file));
  FallbackToy other({0.1, 0.2});
  try {
    tune(other, *s, keep_going(2, file));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("another tuning space"), std::string::npos) << e.what();
  }
}

TEST(History, BaselineIsReadNotRecomputed) {
  TempDir dir;
  const std::string file = dir.file("tuning.jsonl");
  struct Counting : FallbackToy {
    using FallbackToy::FallbackToy;
    Outcome baseline() override {
      ++baselines;
      return FallbackToy::baseline();
    }
    int baselines = 0;
  };
  Counting a({0.1, 0.2}), b({0.1, 0.2});
  auto s = make_strategy("exhaustive");
  tune(a, *s, keep_going(1, file));
  auto s2 = make_strategy("exhaustive");
  tune(b, *s2, keep_going(2, file));
  EXPECT_EQ(a.baselines, 1);
  EXPECT_EQ(b.baselines, 0);
}

TEST(BadInput, UnreachableCriterionEndsWithTheBestConfigAndAClearMessage) {
  FallbackToy toy({0.1, 0.2, 0.3});
  toy.accuracy_offset = -0.5;  // even all-fp32 loses half the accuracy
  for (const std::string name : {"basic", "mse", "random", "bayesian", "tpe", "exhaustive"}) {
    auto s = make_strategy(name, 2);
    TuningResult r =
        tune(toy, *s,
             {.criterion = AccuracyCriterion::parse("relative:0.01"), .exit = {.max_trials = 20}});
    EXPECT_FALSE(r.met) << name;
    ASSERT_TRUE(r.best.has_value()) << name;
    // The most accurate trial that quantizes something (all fp32, at 0.5, is no answer).
    double most = 0;
    for (const auto& t : r.history) {
      if (!toy.space().quantizes_nothing(t.config)) most = std::max(most, t.outcome.accuracy);
    }
    EXPECT_FALSE(toy.space().quantizes_nothing(r.best->config)) << name;
    EXPECT_NEAR(r.best->outcome.accuracy, most, 1e-9) << name;
    EXPECT_NE(r.message.find("no configuration met relative loss <= 1 %"), std::string::npos)
        << r.message;
    EXPECT_NE(r.message.find(fmt::format("reached {:.4f}", most)), std::string::npos) << r.message;
  }
}

// Only all-fp32 meets the criterion (each quantized op costs 0.3): every strategy, stopping
// at the first configuration that meets it, used to return the float model as the answer.
TEST(BadInput, QuantizingNothingIsNeverTheAnswer) {
  for (const std::string name : {"basic", "mse", "random", "bayesian", "tpe", "exhaustive"}) {
    FallbackToy toy({0.3, 0.3});
    auto s = make_strategy(name, 3);
    TuningResult r =
        tune(toy, *s,
             {.criterion = AccuracyCriterion::parse("absolute:0.05"), .exit = {.max_trials = 20}});
    EXPECT_FALSE(r.met) << name << ": " << r.message;
    ASSERT_TRUE(r.best.has_value()) << name;
    EXPECT_FALSE(toy.space().quantizes_nothing(r.best->config)) << name;
  }
}

// A misleading error ranking (op1 first) makes the cumulative fallback reach every op in
// fp32 before anything meets; that is no answer, so the strategy re-quantizes the ops it does
// not need and stops at the first configuration that meets.
TEST(BadInput, AllFp32MeetingLeadsToRequantizing) {
  struct Misleading : FallbackToy {
    using FallbackToy::FallbackToy;
    std::map<int, double> quantization_error() override { return {{0, 3.0}, {1, 2.0}, {2, 1.0}}; }
  } toy({0.3, 0.01, 0.3});  // op1 can be quantized, the others cannot
  auto s = make_strategy("mse");
  TuningResult r =
      tune(toy, *s,
           {.criterion = AccuracyCriterion::parse("absolute:0.05"), .exit = {.max_trials = 20}});
  ASSERT_TRUE(r.met) << r.message;
  EXPECT_EQ(r.best->config, (Config{1, 0, 1}));
  EXPECT_EQ(r.stop_reason, "criterion met");
}

TEST(BadInput, EmptySpaceIsAClearError) {
  struct Empty : TuningProblem {
    TuningSpace s;
    const TuningSpace& space() const override { return s; }
    Outcome baseline() override { return {1, 1}; }
    Outcome evaluate(const Config&) override { return {1, 1}; }
  } empty;
  auto s = make_strategy("basic");
  try {
    tune(empty, *s, {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
    EXPECT_NE(std::string(e.what()).find("tuning space is empty"), std::string::npos) << e.what();
  }
}

TEST(BadInput, SearchableValueWithOneCandidateIsFixedNotSearched) {
  TuningSpace s;
  EXPECT_EQ(s.add({.name = "user:percentile", .values = {"99.9"}}), -1);
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.value({}, "user:percentile"), "99.9");
  EXPECT_EQ(
      s.add({.name = "op:quantize", .kind = DimensionKind::kFallback, .values = {"int8", "fp32"}}),
      0);
  EXPECT_EQ(s.size(), 1u);
  EXPECT_THROW(s.add({.name = "x", .values = {}}), Error);
  EXPECT_THROW(s.add({.name = "y", .values = {"a", "a"}}), Error);
  EXPECT_THROW(s.add({.name = "op:quantize", .values = {"a", "b"}}), Error);
}

TEST(Space, CanonicalResetsOptionsOfFallenBackOps) {
  TuningSpace s;
  const int q =
      s.add({.name = "n:quantize", .kind = DimensionKind::kFallback, .values = {"int8", "fp32"}});
  s.add({.name = "n:calibration", .values = {"minmax", "entropy", "mse"}, .parent = q});
  EXPECT_EQ(s.canonical({1, 2}), (Config{1, 0}));
  EXPECT_EQ(s.canonical({0, 2}), (Config{0, 2}));
  EXPECT_THROW(s.canonical({0, 3}), Error);
  EXPECT_THROW(s.canonical({0}), Error);
  EXPECT_EQ(s.from_values(s.to_values({0, 2})), (Config{0, 2}));
  EXPECT_THROW(s.from_values({{"n:quantize", "int4"}, {"n:calibration", "mse"}}), Error);
  EXPECT_NE(s.signature(), TuningSpace().signature());
}

TEST(Criterion, ParsesAndRefuses) {
  auto r = AccuracyCriterion::parse("relative:0.01");
  EXPECT_NEAR(r.required(0.9), 0.891, 1e-12);
  auto a = AccuracyCriterion::parse("absolute:0.02");
  EXPECT_NEAR(a.required(0.9), 0.88, 1e-12);
  for (const char* bad :
       {"relative", "relative:x", "relative:-0.1", "relative:1", "loss:0.01", "absolute:nan"}) {
    EXPECT_THROW(AccuracyCriterion::parse(bad), Error) << bad;
  }
  EXPECT_EQ(Objective::parse("bops").kind, ObjectiveKind::kBops);
  EXPECT_EQ(Objective::parse("latency:sh run.sh {model}").command, "sh run.sh {model}");
  EXPECT_THROW(Objective::parse("latency:sh run.sh"), Error);
  EXPECT_THROW(Objective::parse("speed"), Error);
}

TEST(ExitPolicy, TimeoutStopsTheRun) {
  struct Slow : BowlToy {
    using BowlToy::BowlToy;
    Outcome evaluate(const Config& c) override {
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      return BowlToy::evaluate(c);
    }
  } slow(3, 4, {1, 2, 3});
  auto s = make_strategy("random", 1);
  TuningResult r = tune(
      slow, *s, {.exit = {.max_trials = 1000, .timeout_seconds = 0.2, .stop_at_first = false}});
  EXPECT_EQ(r.stop_reason, "timeout");
  EXPECT_LT(r.trials, 20);
  EXPECT_GE(r.trials, 2);
}

}  // namespace
}  // namespace tamp::tuning
