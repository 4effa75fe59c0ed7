// `tamp prune` and `tamp inspect --pattern` run as a user runs them: the files they write
// satisfy the pattern (the checker), run in ONNX Runtime and equal tamp's in-process pruning;
// channel pruning writes a smaller graph; fine-tuning with a gradient criterion works; bad
// arguments are usage errors (exit 2), a weight that cannot take the pattern bad input (3).
#include "tamp_runner.h"

#include "support/ort_runner.h"

#include <tamp/compression/pruning/checker.h>
#include <tamp/compression/pruning/pruning.h>
#include <tamp/compression/pruning/shrink.h>
#include <tamp/compression/pruning/targets.h>
#include <tamp/io/idx.h>
#include <tamp/io/onnx_import.h>
#include <tamp/nn/graph_module.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>

namespace tamp::test {
namespace {

using namespace compression;
using namespace compression::pruning;

std::string cnn_path() { return source_dir() + "/tests/data/models/cnn.onnx"; }

// 64 Fashion-MNIST test images, (64, 1, 28, 28).
Tensor test_images() {
  static const Tensor x = [] {
    const nn::TrainTest data = io::fashion_mnist("/usr/share/datasets/fashion-mnist");
    std::vector<int64_t> rows(64);
    for (int64_t i = 0; i < 64; ++i) rows[i] = i * 7;
    return data.test->get_batch(rows).x.reshape({64, 1, 28, 28});
  }();
  return x;
}

Tensor tamp_logits(nn::GraphModule& m, const Tensor& x) {
  NoGradGuard no_grad;
  m.eval();
  return m.forward({{"input", Variable(x)}}).at("logits").value();
}

// Largest |a - b| and the rows whose argmax differs.
std::pair<double, int64_t> compare(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const int64_t n = a.dim(0), c = a.numel() / n;
  double worst = 0;
  int64_t differ = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t ia = 0, ib = 0;
    for (int64_t k = 0; k < c; ++k) {
      worst = std::max(worst, std::fabs(a.at(i * c + k) - b.at(i * c + k)));
      if (a.at(i * c + k) > a.at(i * c + ia)) ia = k;
      if (b.at(i * c + k) > b.at(i * c + ib)) ib = k;
    }
    differ += ia != ib;
  }
  return {worst, differ};
}

const nlohmann::json* layer(const nlohmann::json& j, const std::string& weight) {
  for (const auto& l : j.at("layers"))
    if (l.at("weight") == weight) return &l;
  return nullptr;
}

TEST(PruneCli, TwoFourFileSatisfiesThePatternAndMatchesInProcessPruningInOrt) {
  TempDir dir;
  const std::string out = dir.file("cnn_2of4.onnx");
  const CliResult r = run_tamp({"prune", cnn_path(), "--pattern", "2:4", "--out", out, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("pattern"), "2:4");
  EXPECT_EQ(j.at("parameters_after"), j.at("parameters_before"));  // N:M keeps the shapes
  const auto* conv1 = layer(j, "conv1.weight");
  ASSERT_NE(conv1, nullptr) << r.out;
  ASSERT_TRUE(conv1->at("skipped").is_string());
  EXPECT_NE(conv1->at("skipped").get<std::string>().find("input channels (1)"), std::string::npos);
  for (const char* w : {"conv2.weight", "fc1.weight", "fc2.weight"}) {
    const auto* l = layer(j, w);
    ASSERT_NE(l, nullptr) << w;
    EXPECT_TRUE(l->at("skipped").is_null()) << w;
    EXPECT_DOUBLE_EQ(l->at("sparsity").get<double>(), 0.5) << w;
  }
  // The file: every pruned weight passes the checker, conv1 is untouched.
  const nn::Graph g = io::load_onnx_graph(out);
  for (const PrunableWeight& w : find_prunable_weights(g)) {
    const PatternCheck c =
        check_pattern(g.initializers.at(w.weight), w.layout, Pattern::parse("2:4"));
    if (w.weight == "conv1.weight") {
      EXPECT_FALSE(c.valid);
      EXPECT_EQ(c.sparsity, 0.0);
    } else {
      EXPECT_TRUE(c.valid) << w.weight << ": " << c.detail;
      EXPECT_DOUBLE_EQ(c.sparsity, 0.5) << w.weight;
    }
  }
  // ONNX Runtime on the file = tamp's own one-shot magnitude pruning of the same model.
  nn::GraphModule m(io::load_onnx_graph(cnn_path()));
  prune_once(m, {.pattern = "2:4"});
  const Tensor x = test_images();
  const auto [worst, differ] =
      compare(run_ort(out, {{"input", x}}).at("logits"), tamp_logits(m, x));
  EXPECT_LE(worst, 1e-4);
  EXPECT_EQ(differ, 0);
}

TEST(PruneCli, InspectChecksEveryWeightAgainstAPattern) {
  TempDir dir;
  const std::string out = dir.file("cnn_2of4.onnx");
  ASSERT_EQ(run_tamp({"prune", cnn_path(), "--pattern", "2:4", "--out", out}).code, 0);
  CliResult r = run_tamp({"inspect", out, "--pattern", "2:4", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  int checked = 0;
  for (const auto& w : j.at("weights")) {
    if (!w.contains("pattern")) continue;
    ++checked;
    const bool conv1 = w.at("name") == "conv1.weight";
    EXPECT_EQ(w.at("pattern").at("valid").get<bool>(), !conv1) << w.dump();
    if (conv1) {
      EXPECT_NE(w.at("pattern").at("detail").get<std::string>().find("2:4: "), std::string::npos)
          << w.dump();
    } else {
      EXPECT_EQ(w.at("pattern").at("detail"), "2:4 valid");
      EXPECT_EQ(w.at("structure"), "2:4");
      EXPECT_DOUBLE_EQ(w.at("sparsity").get<double>(), 0.5);
    }
  }
  EXPECT_EQ(checked, 4);
  // The dense model fails the check, with the number of offending groups.
  r = run_tamp({"inspect", cnn_path(), "--pattern", "2:4", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  for (const auto& w : j.at("weights")) {
    if (w.at("name") != "fc1.weight") continue;
    EXPECT_FALSE(w.at("pattern").at("valid").get<bool>());
    EXPECT_NE(
        w.at("pattern").at("detail").get<std::string>().find("groups have more than 2 non-zeros"),
        std::string::npos);
  }
  // Text: the pattern column, and a usage error for a malformed pattern.
  r = run_tamp({"inspect", out, "--pattern", "2:4"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("2:4 valid"), std::string::npos) << r.out;
  EXPECT_NE(run_tamp({"inspect", out, "--pattern", "3:3"}).code, 0);
}

TEST(PruneCli, ChannelPruningWritesASmallerGraphEqualToTheMaskedModel) {
  TempDir dir;
  const std::string out = dir.file("cnn_half_channels.onnx");
  const CliResult r = run_tamp(
      {"prune", cnn_path(), "--pattern", "channel", "--sparsity", "0.5", "--out", out, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("removed").size(), 3u) << r.out;  // conv1, conv2, fc1 (fc2 feeds the output)
  const double before = j.at("parameters_before").get<double>(),
               after = j.at("parameters_after").get<double>();
  EXPECT_LT(after * 3, before) << r.out;
  const nn::Graph g = io::load_onnx_graph(out);
  EXPECT_EQ(g.initializers.at("conv2.weight").shape(), (Shape{32, 16, 3, 3}));
  EXPECT_EQ(g.initializers.at("fc1.weight").shape(), (Shape{64, 32 * 25}));
  EXPECT_EQ(g.initializers.at("fc2.weight").shape(), (Shape{10, 64}));
  // The masked model, pruned in process the same way, gives the same logits as ORT on the file.
  nn::GraphModule masked(io::load_onnx_graph(cnn_path()));
  prune_once(masked, {.pattern = "channel", .target_sparsity = 0.5});
  const Tensor x = test_images();
  const auto [worst, differ] =
      compare(run_ort(out, {{"input", x}}).at("logits"), tamp_logits(masked, x));
  EXPECT_LE(worst, 1e-4);
  EXPECT_EQ(differ, 0);
  // --no-shrink keeps the shapes, with the channels zero.
  const std::string kept = dir.file("kept.onnx");
  ASSERT_EQ(run_tamp({"prune", cnn_path(), "--pattern", "channel", "--sparsity", "0.5",
                      "--no-shrink", "--out", kept})
                .code,
            0);
  const nn::Graph k = io::load_onnx_graph(kept);
  EXPECT_EQ(k.initializers.at("conv2.weight").shape(), (Shape{64, 32, 3, 3}));
  const auto s = describe_sparsity(k.initializers.at("conv2.weight"),
                                   WeightLayout::of("Conv", {64, 32, 3, 3}));
  EXPECT_EQ(s.structure, "channel");
}

TEST(PruneCli, FineTunesWithAGradientCriterionAndReportsAccuracy) {
  TempDir dir;
  const std::string out = dir.file("cnn_4x1.onnx");
  const CliResult ok = run_tamp({"prune",
                                 cnn_path(),
                                 "--pattern",
                                 "4x1",
                                 "--sparsity",
                                 "0.5",
                                 "--criterion",
                                 "snip_momentum",
                                 "--finetune-epochs",
                                 "2",
                                 "--steps",
                                 "8",
                                 "--frequency",
                                 "3",
                                 "--dataset",
                                 "fashion-mnist",
                                 "--limit",
                                 "512",
                                 "--batch",
                                 "32",
                                 "--threads",
                                 "1",
                                 "--out",
                                 out,
                                 "--json"});
  ASSERT_EQ(ok.code, 0) << ok.err;
  const auto j = nlohmann::json::parse(ok.out);
  EXPECT_EQ(j.at("criterion"), "snip_momentum");
  EXPECT_EQ(j.at("finetune_epochs"), 2);
  ASSERT_TRUE(j.at("test").is_object()) << ok.out;
  EXPECT_EQ(j.at("test").at("examples"), 512);
  // The accuracy reported is the written model's: `tamp eval` on the file agrees.
  const CliResult eval =
      run_tamp({"eval", out, "--dataset", "fashion-mnist:test", "--limit", "512", "--json"});
  ASSERT_EQ(eval.code, 0) << eval.err;
  EXPECT_NEAR(nlohmann::json::parse(eval.out).at("top1").get<double>(),
              j.at("test").at("top1").get<double>(), 1e-9);
  const auto* fc2 = layer(j, "fc2.weight");
  ASSERT_NE(fc2, nullptr);
  EXPECT_TRUE(fc2->at("skipped").is_string());  // 10 output rows do not split into 4x1 blocks
  const nn::Graph g = io::load_onnx_graph(out);
  for (const char* w : {"conv1.weight", "conv2.weight", "fc1.weight"}) {
    const Tensor& t = g.initializers.at(w);
    const WeightLayout l = WeightLayout::of(w[0] == 'c' ? "Conv" : "Gemm", t.shape());
    const PatternCheck c = check_pattern(t, l, Pattern::parse("4x1"));
    EXPECT_TRUE(c.valid) << w << ": " << c.detail;
    EXPECT_LE(std::fabs(c.sparsity * static_cast<double>(t.numel()) -
                        0.5 * static_cast<double>(t.numel())),
              2.0)
        << w;  // within half a block of 4
  }
}

// --bn-reestimate: the pruned file's BatchNorm statistics are recomputed (they differ from the
// same pruning without it); the command says on how many batches.
TEST(PruneCli, BatchNormReestimationRewritesTheRunningStatistics) {
  TempDir dir;
  const std::string with = dir.file("with.onnx"), without = dir.file("without.onnx");
  const std::vector<std::string> common{
      "prune",      source_dir() + "/tests/data/models/cnn_bn_train.onnx",
      "--pattern",  "unstructured",
      "--sparsity", "0.7",
      "--dataset",  "fashion-mnist",
      "--limit",    "256",
      "--batch",    "32",
      "--json"};
  auto args = common;
  for (const char* a : {"--bn-reestimate", "2", "--out"}) args.push_back(a);
  args.push_back(with);
  const CliResult r = run_tamp(args);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["bn_reestimation_batches"], 2);
  args = common;
  args.push_back("--out");
  args.push_back(without);
  ASSERT_EQ(run_tamp(args).code, 0);
  const nn::Graph a = io::load_onnx_graph(with), b = io::load_onnx_graph(without);
  for (const char* name :
       {"bn1.running_mean", "bn1.running_var", "bn2.running_mean", "bn2.running_var"}) {
    const Tensor& x = a.initializers.at(name);
    const Tensor& y = b.initializers.at(name);
    double d = 0;
    for (int64_t i = 0; i < x.numel(); ++i) d = std::max(d, std::fabs(double(x.at(i)) - y.at(i)));
    EXPECT_GT(d, 1e-4) << name;
  }
  EXPECT_EQ(run_tamp({"prune", source_dir() + "/tests/data/models/cnn_bn_train.onnx", "--pattern",
                      "unstructured", "--sparsity", "0.5", "--bn-reestimate", "2", "--out",
                      dir.file("x.onnx")})
                .code,
            2);
}

TEST(PruneCli, BadArgumentsAreUsageErrorsAndImpossiblePatternsBadInput) {
  TempDir dir;
  const std::string out = dir.file("x.onnx");
  auto code = [&](std::vector<std::string> extra) {
    std::vector<std::string> args{"prune", cnn_path(), "--out", out};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_tamp(args);
  };
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--pattern", "unstructured", "--sparsity", "1.0"},
           {"--pattern", "unstructured", "--sparsity", "-0.2"},
           {"--pattern", "unstructured"},              // no target
           {"--pattern", "2:4", "--sparsity", "0.6"},  // above what 2:4 allows
           {"--pattern", "3:3"},
           {"--pattern", "2:4", "--criterion", "random"},
           {"--pattern", "2:4", "--criterion", "snip"},     // gradients need fine-tuning
           {"--pattern", "2:4", "--schedule", "cubic"},     // so does a gradual schedule
           {"--pattern", "2:4", "--finetune-epochs", "1"},  // without --dataset
           {"--pattern", "2:4", "--global"}}) {
    const CliResult r = code(args);
    EXPECT_EQ(r.code, 2) << args[1] << " " << (args.size() > 2 ? args[2] + " " + args[3] : "")
                         << "\n"
                         << r.err;
  }
  // conv1 has one input channel: naming it with 2:4 is bad input, with the weight in the message.
  const CliResult r = code({"--pattern", "2:4", "--include", "conv1.weight"});
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("conv1.weight"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out));
}

}  // namespace
}  // namespace tamp::test
