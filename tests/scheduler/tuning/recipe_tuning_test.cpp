// The `tuning:` section of recipes: values, defaults, and errors that name their path.
#include <tamp/scheduler/recipe.h>

#include <gtest/gtest.h>

namespace tamp {
namespace {

const std::string kHead = "model: m.onnx\nseed: 5\n";

std::string error_of(const std::string& text) {
  try {
    parse_recipe(text, "/r");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(RecipeTuning, ReadsTheSection) {
  const Recipe r = parse_recipe(kHead + R"(
tuning:
  criterion: absolute:0.005
  strategy: tpe
  objective: bops
  max_trials: 40
  timeout: 120
  keep_improving: true
  calibration_batches: 4
  calibration: [minmax, entropy]
  granularity: [per_channel]
  sparsity: [0, 0.5]
  searchable: {percentile: [99.9, 99.99]}
  exclude: [/fc3/Gemm]
  fallback: [bf16, fp32]
  history: t.jsonl
)",
                                "/r");
  ASSERT_TRUE(r.tuning.has_value());
  const auto& t = *r.tuning;
  EXPECT_EQ(t.criterion, "absolute:0.005");
  EXPECT_EQ(t.strategy, "tpe");
  EXPECT_EQ(t.objective, "bops");
  EXPECT_EQ(t.max_trials, 40);
  EXPECT_EQ(t.timeout, 120);
  EXPECT_TRUE(t.keep_improving);
  EXPECT_EQ(t.seed, 5u);
  EXPECT_EQ(t.calibration_batches, 4);
  EXPECT_EQ(t.calibration, (std::vector<std::string>{"minmax", "entropy"}));
  EXPECT_EQ(t.granularity, (std::vector<std::string>{"per_channel"}));
  EXPECT_EQ(t.sparsity, (std::vector<std::string>{"0", "0.5"}));
  EXPECT_EQ(t.searchable.at("percentile"), (std::vector<std::string>{"99.9", "99.99"}));
  EXPECT_EQ(t.exclude, (std::vector<std::string>{"/fc3/Gemm"}));
  EXPECT_EQ(t.fallback, (std::vector<std::string>{"bf16", "fp32"}));
  EXPECT_EQ(t.history, "t.jsonl");
  EXPECT_TRUE(r.stages.empty());
  EXPECT_EQ(r.export_.format, "qdq");
}

TEST(RecipeTuning, DefaultsAndNoStagesNeeded) {
  const Recipe r = parse_recipe(kHead + "tuning: {}\n", "/r");
  ASSERT_TRUE(r.tuning.has_value());
  EXPECT_EQ(r.tuning->criterion, "relative:0.01");
  EXPECT_EQ(r.tuning->strategy, "basic");
  EXPECT_EQ(r.tuning->history, "tuning.jsonl");
  EXPECT_FALSE(parse_recipe(kHead + "stages: [{ptq: {}}]\n", "/r").tuning.has_value());
}

TEST(RecipeTuning, ErrorsNameThePath) {
  EXPECT_NE(error_of(kHead + "tuning: {criterion: loss:1}\n").find("tuning.criterion:"),
            std::string::npos);
  EXPECT_NE(error_of(kHead + "tuning: {strategy: annealing}\n")
                .find("tuning.strategy: 'annealing' is not one of"),
            std::string::npos);
  EXPECT_NE(error_of(kHead + "tuning: {calibration: [kl]}\n").find("tuning.calibration[0]"),
            std::string::npos);
  EXPECT_NE(error_of(kHead + "tuning: {fallback: [fp16]}\n")
                .find("tuning.fallback[0]: 'fp16' is not one of"),
            std::string::npos);
  EXPECT_NE(error_of(kHead + "tuning: {sparsity: [0, 1.5]}\n").find("tuning.sparsity[1]"),
            std::string::npos);
  EXPECT_NE(error_of(kHead + "tuning: {searchable: {lr: [1, 2]}}\n")
                .find("tuning.searchable.lr: unknown key"),
            std::string::npos);
  EXPECT_NE(error_of(kHead + "tuning: {trials: 3}\n").find("tuning.trials: unknown key"),
            std::string::npos);
  EXPECT_NE(error_of(kHead + "tuning: {max_trials: 0}\n").find("tuning.max_trials"),
            std::string::npos);
  EXPECT_NE(error_of(kHead + "tuning: {history: ../x.jsonl}\n").find("tuning.history"),
            std::string::npos);
  EXPECT_NE(
      error_of(kHead + "tuning: {}\nstages: [{ptq: {}}]\n").find("a tuning recipe has no stages"),
      std::string::npos);
  EXPECT_NE(error_of(kHead + "tuning: {}\nexport: {format: float}\n").find("export.format"),
            std::string::npos);
}

}  // namespace
}  // namespace tamp
