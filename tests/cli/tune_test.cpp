// `tamp tune` run as a user runs it, on the range-hostile MLP of the tuning tests: the
// criterion is met by falling back two ops, the written model is what the report says, a
// second run resumes from tuning.jsonl without evaluating, an unreachable criterion writes
// the most accurate model and exits 1.
#include "scheduler/tuning/tuning_test_support.h"
#include "support/temp_dir.h"
#include "tamp_runner.h"

#include <tamp/io/onnx_export.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace tamp::test {
namespace {

std::string hostile_model(const TempDir& dir) {
  const std::string path = dir.file("hostile.onnx");
  io::save_onnx_graph(trained_mlp(300, /*hostile=*/true), path);
  return path;
}

TEST(TuneCli, FallsBackMeetsTheCriterionAndResumes) {
  TempDir dir;
  const std::string model = hostile_model(dir), out = dir.file("tuned.onnx");
  const std::vector<std::string> args{
      "tune",          model,    "--out",   out,    "--strategy",           "mse",
      "--calibration", "minmax", "--limit", "2000", "--accuracy-criterion", "relative:0.01",
      "--json"};
  CliResult r = run_tamp(args);
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j.at("met").get<bool>());
  EXPECT_EQ(j.at("fallbacks").size(), 2u);
  EXPECT_EQ(j.at("calibration_passes").get<int>(), 1);
  EXPECT_GE(j.at("best").at("accuracy").get<double>(), j.at("required_accuracy").get<double>());
  EXPECT_TRUE(std::filesystem::exists(out));
  EXPECT_TRUE(std::filesystem::exists(dir.file("tuning.jsonl")));
  const int trials = j.at("trials").get<int>();
  EXPECT_EQ(j.at("evaluations").get<int>(), trials);

  CliResult again = run_tamp(args);
  ASSERT_EQ(again.code, 0) << again.err;
  const auto k = nlohmann::json::parse(again.out);
  EXPECT_EQ(k.at("evaluations").get<int>(), 0);
  EXPECT_EQ(k.at("resumed").get<int>(), trials);
  EXPECT_EQ(k.at("best").at("config"), j.at("best").at("config"));

  // the text report names the ops not in int8 and their precision
  CliResult text = run_tamp({"tune", model, "--out", out, "--strategy", "mse", "--calibration",
                             "minmax", "--limit", "2000", "--history", dir.file("text.jsonl")});
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("ops not in int8: 2"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("(fp32): "), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("output MSE"), std::string::npos) << text.out;

  // --fallback bf16,fp32: the same two ops in bf16, and the file ONNX Runtime runs agrees
  CliResult bf16 = run_tamp({"tune", model, "--out", dir.file("bf16.onnx"), "--strategy", "mse",
                             "--calibration", "minmax", "--limit", "2000", "--fallback",
                             "bf16,fp32", "--history", dir.file("bf16.jsonl"), "--json"});
  ASSERT_EQ(bf16.code, 0) << bf16.err << bf16.out;
  const auto b = nlohmann::json::parse(bf16.out);
  ASSERT_EQ(b.at("fallbacks").size(), 2u);
  for (const auto& f : b.at("fallbacks")) EXPECT_EQ(f.at("precision"), "bf16") << f;
  EXPECT_TRUE(b.at("parity").at("passed").get<bool>()) << b.at("parity");
  EXPECT_LT(b.at("best").at("objective").get<double>(), j.at("best").at("objective").get<double>());
  EXPECT_EQ(run_tamp({"tune", model, "--out", dir.file("x.onnx"), "--fallback", "fp16"}).code, 2);
}

TEST(TuneCli, UnreachableCriterionWritesTheBestAndExits1) {
  TempDir dir;
  const std::string model = hostile_model(dir), out = dir.file("best.onnx");
  CliResult r = run_tamp({"tune", model, "--out", out, "--strategy", "random", "--max-trials", "3",
                          "--limit", "1000", "--accuracy-criterion", "absolute:0", "--objective",
                          "bops", "--calibration", "minmax"});
  // absolute:0 can be met only by trials as accurate as fp32: all-fp32 is never proposed in 3
  // random trials here, or if it is, the run succeeds; both end with a written model
  EXPECT_TRUE(std::filesystem::exists(out));
  if (r.code != 0) {
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.out.find("no configuration met"), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("not met"), std::string::npos) << r.err;
  }
}

TEST(TuneCli, RecipeWithATuningSection) {
  TempDir dir;
  const std::string model = hostile_model(dir);
  {
    std::ofstream out(dir.file("tune.yaml"));
    out << "model: hostile.onnx\n"
           "data: {limit: 1024, eval_limit: 2000}\n"
           "tuning:\n  criterion: relative:0.01\n  strategy: mse\n  calibration: [minmax]\n"
           "export: {path: tuned.onnx}\n";
  }
  const std::string out = dir.file("run");
  CliResult r = run_tamp({"tune", dir.file("tune.yaml"), "--out", out, "--json"});
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j.at("met").get<bool>());
  EXPECT_EQ(j.at("fallbacks").size(), 2u);
  EXPECT_EQ(j.at("strategy"), "mse");
  EXPECT_TRUE(std::filesystem::exists(out + "/tuned.onnx"));
  EXPECT_TRUE(std::filesystem::exists(out + "/tuning.jsonl"));
  // a recipe with stages is for tamp run
  {
    std::ofstream bad(dir.file("run.yaml"));
    bad << "model: hostile.onnx\nstages: [{ptq: {}}]\n";
  }
  CliResult b = run_tamp({"tune", dir.file("run.yaml"), "--out", out});
  EXPECT_EQ(b.code, 3) << b.err;
  EXPECT_NE(b.err.find("no tuning: section"), std::string::npos) << b.err;
  // and `tamp run` runs a tuning recipe as tamp tune does: the same trials, from the history
  // file when the folder is the same
  CliResult c = run_tamp({"run", dir.file("tune.yaml"), "--out", out});
  EXPECT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find("(from history)"), std::string::npos) << c.out;
  EXPECT_TRUE(std::filesystem::exists(out + "/tuned.onnx"));
}

TEST(TuneCli, QuantizeStaticWithAnAccuracyCriterion) {
  TempDir dir;
  const std::string model = hostile_model(dir), out = dir.file("q.onnx");
  CliResult r = run_tamp({"quantize", model, "--method", "static", "--calib-data", "fashion-mnist",
                          "--calibration", "minmax", "--calib-batches", "8", "--eval-data",
                          "fashion-mnist:test", "--accuracy-criterion", "relative:0.01",
                          "--strategy", "mse", "--out", out, "--json"});
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j.at("met").get<bool>());
  EXPECT_EQ(j.at("strategy"), "mse");
  EXPECT_EQ(j.at("fallbacks").size(), 2u);
  EXPECT_TRUE(std::filesystem::exists(out));
  CliResult bad = run_tamp({"quantize", model, "--method", "static", "--calib-data",
                            "fashion-mnist", "--strategy", "mse", "--out", out});
  EXPECT_EQ(bad.code, 2) << bad.err;
  CliResult dyn = run_tamp({"quantize", model, "--method", "dynamic", "--accuracy-criterion",
                            "relative:0.01", "--out", out});
  EXPECT_EQ(dyn.code, 2) << dyn.err;
}

// The history answers trials only for the model and data it was written with: the same file
// name holding other weights, or other examples, is refused instead of reported from it.
TEST(TuneCli, HistoryOfAnotherModelOrOtherDataIsRefused) {
  TempDir dir;
  const std::string model = dir.file("mlp.onnx"), out = dir.file("q.onnx");
  std::filesystem::copy_file(source_dir() + "/tests/data/models/mlp.onnx", model);
  auto tune_with = [&](const std::string& limit) {
    return run_tamp({"tune", model, "--out", out, "--strategy", "basic", "--calibration", "minmax",
                     "--max-trials", "1", "--calib-batches", "2", "--limit", limit,
                     "--accuracy-criterion", "absolute:0.5"});
  };
  ASSERT_EQ(tune_with("300").code, 0);
  const std::string untrained = slurp(model);
  io::save_onnx_graph(trained_mlp(20, /*hostile=*/false), model);
  const CliResult other_model = tune_with("300");
  EXPECT_EQ(other_model.code, 3) << other_model.err;
  EXPECT_NE(other_model.err.find("written for another model"), std::string::npos)
      << other_model.err;
  std::ofstream(model, std::ios::binary) << untrained;
  const CliResult other_data = tune_with("200");
  EXPECT_EQ(other_data.code, 3) << other_data.err;
  EXPECT_NE(other_data.err.find("written for other data"), std::string::npos) << other_data.err;
  const CliResult same = tune_with("300");
  EXPECT_EQ(same.code, 0) << same.err;
  EXPECT_NE(same.out.find("1 from the history"), std::string::npos) << same.out;
}

TEST(TuneCli, MissingOutputFolderIsNamed) {
  TempDir dir;
  const std::string model = source_dir() + "/tests/data/models/mlp.onnx";
  const std::string out = dir.file("newdir") + "/x.onnx";
  const CliResult r = run_tamp({"tune", model, "--out", out, "--limit", "200"});
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_NE(r.err.find("the folder '" + dir.file("newdir") + "' does not exist"), std::string::npos)
      << r.err;
  for (const std::string cmd : {"train", "prune", "convert", "quantize"}) {
    std::vector<std::string> args{cmd, model, "--out", out};
    if (cmd == "train") args.insert(args.end(), {"--dataset", "fashion-mnist"});
    if (cmd == "prune") args.insert(args.end(), {"--pattern", "2:4"});
    if (cmd == "convert") args.insert(args.end(), {"--to", "fp16"});
    if (cmd == "quantize") args.insert(args.end(), {"--method", "dynamic"});
    const CliResult c = run_tamp(args);
    EXPECT_EQ(c.code, 3) << cmd << ": " << c.err;
    EXPECT_NE(c.err.find("does not exist"), std::string::npos) << cmd << ": " << c.err;
  }
}

TEST(TuneCli, BadArguments) {
  TempDir dir;
  const std::string model = source_dir() + "/tests/data/models/mlp.onnx";
  EXPECT_EQ(run_tamp({"tune", model, "--out", dir.file("x.onnx"), "--strategy", "annealing"}).code,
            2);
  CliResult c =
      run_tamp({"tune", model, "--out", dir.file("x.onnx"), "--accuracy-criterion", "loss:1"});
  EXPECT_EQ(c.code, 3) << c.err;
  EXPECT_NE(c.err.find("relative:FRACTION"), std::string::npos) << c.err;
  CliResult e =
      run_tamp({"tune", model, "--out", dir.file("x.onnx"), "--exclude", "Gemm", "--limit", "200"});
  EXPECT_EQ(e.code, 3) << e.err;
  EXPECT_NE(e.err.find("tuning space is empty"), std::string::npos) << e.err;
}

}  // namespace
}  // namespace tamp::test
