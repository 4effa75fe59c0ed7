// The six compression combinations of the example recipes, run by the `tamp` binary with tiny
// settings; each exported model runs in ONNX Runtime and agrees with tamp's own forward pass.
#include "run_test_support.h"

#include <tamp/io/idx.h>
#include <tamp/io/onnx_import.h>
#include <tamp/nn/graph_module.h>

#include <gtest/gtest.h>

#include <fstream>

namespace tamp::test {
namespace {

// The first n test images as loaded: the tiny recipes' normalization is inside the exported
// model, which takes raw pixels.
Tensor test_images(int64_t n) {
  static const nn::TrainTest data = io::fashion_mnist("/usr/share/datasets/fashion-mnist");
  return data.test->slice(0, n)->x();
}

std::vector<int64_t> argmax_rows(const Tensor& logits) {
  const Tensor l = logits.to(DType::kFloat32);
  const int64_t n = l.dim(0), c = l.dim(1);
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float* row = l.data<float>() + i * c;
    out[static_cast<size_t>(i)] = std::max_element(row, row + c) - row;
  }
  return out;
}

class SixCombinations : public ::testing::TestWithParam<std::string> {};

TEST_P(SixCombinations, RunsExportsAndAgreesWithOnnxRuntime) {
  TempDir dir;
  const std::string recipe = tiny_recipe(GetParam(), dir);
  const std::string out = dir.file("out");
  const CliResult r = run_tamp({"run", recipe, "--out", out});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  for (const char* f :
       {"metrics.jsonl", "summary.json", "report.html", "checkpoint.h5", "model.onnx"}) {
    EXPECT_TRUE(std::filesystem::exists(out + "/" + f)) << f;
  }
  const auto summary = nlohmann::json::parse(slurp(out + "/summary.json"));
  const auto& ex = summary["export"];
  EXPECT_GT(ex["bytes"].get<int64_t>(), 0);
  EXPECT_EQ(ex["eval"]["examples"].get<int64_t>(), 300);
  if (ex["format"] != "float") {
    EXPECT_LT(ex["bytes"].get<double>(), 0.5 * ex["original_bytes"].get<double>());
    // The export parity check ran for the default target on the evaluation data and passed.
    EXPECT_EQ(ex["target"], "portable");
    EXPECT_TRUE(ex["parity"]["passed"].get<bool>()) << ex["parity"];
    EXPECT_EQ(ex["parity"]["arithmetic"], "avx2");
    EXPECT_EQ(ex["parity"]["examples"].get<int64_t>(), 300);
    EXPECT_LE(ex["parity"]["max_step_diff"].get<double>(), 1.0001) << ex["parity"];
    EXPECT_NE(r.out.find("parity: argmax agreement"), std::string::npos) << r.out;
  } else {
    EXPECT_TRUE(ex["parity"].is_null());
  }
  const std::string html = slurp(out + "/report.html");
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("Sparsity per layer"), std::string::npos);

  const std::string model = out + "/model.onnx";
  nn::GraphModule m(io::load_onnx_graph(model));
  const std::string input = m.graph().inputs[0].name, output = m.graph().outputs[0].name;
  const Tensor x = test_images(1000);
  NoGradGuard no_grad;
  m.eval();
  const auto ours = argmax_rows(m.forward({{input, Variable(x)}}).at(output).value());
  const auto theirs = argmax_rows(run_ort(model, {{input, x}}).at(output));
  int64_t agree = 0;
  for (size_t i = 0; i < ours.size(); ++i) agree += ours[i] == theirs[i];
  EXPECT_GE(static_cast<double>(agree) / static_cast<double>(ours.size()), 0.999)
      << agree << " of " << ours.size() << " argmax agree";
}

INSTANTIATE_TEST_SUITE_P(Recipes, SixCombinations,
                         ::testing::Values("oneshot_prune_qat", "oneshot_distill_lock",
                                           "oneshot_distill_lock_qat", "multishot_prune_ptq",
                                           "multishot_distill_ptq", "multishot_distill_prune_ptq"));

TEST(RunRecipe, MasksOfAPruningStageStayThroughLaterStages) {
  TempDir dir;
  const std::string out = dir.file("out");
  const CliResult r =
      run_tamp({"run", tiny_recipe("multishot_distill_prune_ptq", dir), "--out", out, "--quiet"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto summary = nlohmann::json::parse(slurp(out + "/summary.json"));
  const auto& stages = summary["stages"];
  ASSERT_EQ(stages.size(), 3u);
  EXPECT_LT(stages[0]["sparsity"].get<double>(), 0.01);
  EXPECT_GT(stages[1]["sparsity"].get<double>(), 0.4);  // 2:4 on every layer but conv1
  EXPECT_EQ(stages[2]["sparsity"].get<double>(), stages[1]["sparsity"].get<double>());
  EXPECT_EQ(stages[2]["weight_bits"].get<int>(), 8);
  EXPECT_TRUE(stages[2]["calibration_only"].get<bool>());
}

// The two pattern-lock combinations on a student `tamp prune` made 2:4-sparse: distillation
// (and QAT) train it, and every weight that was zero stays zero.
TEST(RunRecipe, PatternLockKeepsTheZerosOfAPrunedStudent) {
  TempDir dir;
  const std::string pruned = dir.file("pruned.onnx");
  const CliResult p = run_tamp({"prune", source_dir() + "/tests/data/models/cnn.onnx", "--pattern",
                                "2:4", "--out", pruned, "--exclude", "conv1"});
  ASSERT_EQ(p.code, 0) << p.err;
  const nn::Graph before = io::load_onnx_graph(pruned);
  for (const std::string name : {"oneshot_distill_lock", "oneshot_distill_lock_qat"}) {
    SCOPED_TRACE(name);
    const std::string recipe = tiny_recipe(name, dir);
    std::string text = slurp(recipe);
    text = replace_all(text, source_dir() + "/tests/data/models/cnn.onnx", pruned);
    std::ofstream(recipe) << text;
    const std::string out = dir.file(name + "_out");
    const CliResult r = run_tamp({"run", recipe, "--out", out, "--quiet"});
    ASSERT_EQ(r.code, 0) << r.err;
    const auto summary = nlohmann::json::parse(slurp(out + "/summary.json"));
    EXPECT_GT(summary["stages"][0]["sparsity"].get<double>(), 0.4);
    if (name != "oneshot_distill_lock") continue;
    const nn::Graph after = io::load_onnx_graph(out + "/model.onnx");
    int64_t zeros = 0;
    for (const char* w : {"conv2.weight", "fc1.weight", "fc2.weight"}) {
      const Tensor& b = before.initializers.at(w);
      const Tensor& a = after.initializers.at(w);
      ASSERT_EQ(a.numel(), b.numel());
      for (int64_t i = 0; i < b.numel(); ++i) {
        if (b.data<float>()[i] != 0.0f) continue;
        ++zeros;
        ASSERT_EQ(a.data<float>()[i], 0.0f) << w << "[" << i << "] was pruned and came back";
      }
    }
    EXPECT_GT(zeros, 100000);
  }
}

// Distillation logs each term of its loss (metrics.jsonl and the progress line): the task loss,
// the logit KD and every intermediate layer, summing to the loss. A PTQ stage says it
// calibrated (no "train loss 0.0000"), and components carry their recipe keys everywhere.
TEST(RunRecipe, DistillationLogsEveryLossTermAndPtqSaysItCalibrated) {
  TempDir dir;
  const std::string path = tiny_recipe("multishot_distill_ptq", dir, 4);
  YAML::Node r = YAML::LoadFile(path);
  YAML::Node layer;
  layer["student"] = "/fc1/Gemm_output_0";
  layer["teacher"] = "/fc1/Gemm_output_0";
  layer["weight"] = 0.1;
  r["stages"][0]["distillation"]["layers"].push_back(layer);
  std::ofstream(path) << YAML::Dump(r) << "\n";
  const std::string out = dir.file("out");
  const CliResult run = run_tamp({"run", path, "--out", out});
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_NE(run.out.find("stage 1/2 'distill': distillation"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("stage 2/2 'ptq': ptq"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("(task "), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("distillation.logits "), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("distillation.layer0 "), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("calibrated on 4 batches"), std::string::npos) << run.out;
  EXPECT_EQ(run.out.find("train loss 0.0000"), std::string::npos) << run.out;

  int train_lines = 0;
  std::ifstream metrics(out + "/metrics.jsonl");
  for (std::string line; std::getline(metrics, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.at("type") == "stage") {
      EXPECT_EQ(j.at("train_loss").is_null(), j.at("stage") == 1) << line;
      continue;
    }
    ++train_lines;
    const auto& terms = j.at("terms");
    ASSERT_EQ(terms.size(), 3u) << line;
    double sum = 0;
    for (const char* t : {"task", "distillation.logits", "distillation.layer0"})
      sum += terms.at(t).get<double>();
    EXPECT_NEAR(sum, j.at("loss").get<double>(), 1e-6 * std::max(1.0, sum)) << line;  // float terms
  }
  EXPECT_EQ(train_lines, 2);
  const auto summary = nlohmann::json::parse(slurp(out + "/summary.json"));
  EXPECT_EQ(summary["stages"][0]["components"], nlohmann::json::array({"distillation"}));
  EXPECT_EQ(summary["stages"][1]["components"], nlohmann::json::array({"ptq"}));
  EXPECT_TRUE(summary["stages"][1]["train_loss"].is_null());
}

TEST(RunRecipe, ProgressIsABarOnATerminalAndPlainLinesOtherwise) {
  TempDir dir;
  const std::string recipe = tiny_recipe("oneshot_prune_qat", dir, 8);
  const CliResult plain = run_tamp({"run", recipe, "--out", dir.file("a")});
  ASSERT_EQ(plain.code, 0) << plain.err;
  EXPECT_EQ(plain.out.find('\r'), std::string::npos);
  EXPECT_NE(plain.out.find("stage 1 epoch 1 step 2/8"), std::string::npos) << plain.out;
  EXPECT_NE(plain.out.find("ETA"), std::string::npos);
  if (!std::filesystem::exists("/usr/bin/script"))
    GTEST_SKIP() << "no script(1) to give tamp a terminal";
  const std::string cmd = shell_quote(TAMP_CLI_BINARY) + " run " + shell_quote(recipe) + " --out " +
                          shell_quote(dir.file("b"));
  const CliResult tty = run_program("/usr/bin/script", {"-qec", cmd, "/dev/null"});
  ASSERT_EQ(tty.code, 0) << tty.out;
  EXPECT_NE(tty.out.find("\r  ["), std::string::npos) << "a bar redrawn in place: " << tty.out;
  EXPECT_NE(tty.out.find("steps/s  ETA"), std::string::npos);
}

}  // namespace
}  // namespace tamp::test
