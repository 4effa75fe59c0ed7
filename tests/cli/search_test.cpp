// `tamp search` end to end on a small slice of Fashion-MNIST: both strategies write a Pareto
// front that is non-dominated, a chosen candidate on it that meets the pick rule, and a
// smaller model that ONNX Runtime runs and whose MACs are the ones reported.
#include <tamp/io/onnx_import.h>
#include <tamp/nn/graph_cost.h>

#include "cli/tamp_runner.h"
#include "support/ort_runner.h"
#include "support/temp_dir.h"
#include "support/test_data.h"

#include <gtest/gtest.h>
#include <fstream>
#include <nlohmann/json.hpp>

using namespace tamp;
using namespace tamp::test;

namespace {

void expect_valid_search(const nlohmann::json& s, double within_pt) {
  const auto& c = s["candidates"];
  ASSERT_GE(c.size(), 5u);
  EXPECT_EQ(c[0]["description"], "full");
  std::vector<std::vector<double>> points;
  for (const auto& x : c)
    points.push_back({1 - x["accuracy"].get<double>(), x["macs"].get<double>()});
  std::set<int> front;
  for (const auto& i : s["front"]) front.insert(i.get<int>());
  for (size_t i = 0; i < points.size(); ++i) {
    bool dominated = false;
    for (const auto& q : points) {
      dominated = dominated || (q[0] <= points[i][0] && q[1] <= points[i][1] &&
                                (q[0] < points[i][0] || q[1] < points[i][1]));
    }
    EXPECT_EQ(front.count(static_cast<int>(i)) == 1, !dominated) << "candidate " << i;
    EXPECT_EQ(c[i]["on_front"].get<bool>(), front.count(static_cast<int>(i)) == 1);
  }
  const int chosen = s["chosen"].get<int>();
  EXPECT_TRUE(front.count(chosen));
  EXPECT_LE(100 * (c[0]["accuracy"].get<double>() - c[chosen]["accuracy"].get<double>()),
            within_pt + 1e-9);
  for (int i : front) {  // nothing on the front within the rule is cheaper
    if (100 * (c[0]["accuracy"].get<double>() - c[i]["accuracy"].get<double>()) <=
        within_pt + 1e-9) {
      EXPECT_GE(c[i]["macs"].get<int64_t>(), c[chosen]["macs"].get<int64_t>());
    }
  }
}

void expect_exported_model(const TempDir& dir, const nlohmann::json& summary) {
  const std::string model = dir.file("out/model.onnx");
  const nn::Graph g = io::load_onnx_graph(model);
  const nn::GraphCost cost = nn::graph_cost(g);
  EXPECT_EQ(cost.macs, summary["export"]["macs"].get<int64_t>());
  const auto& chosen = summary["search"]["candidates"][summary["search"]["chosen"].get<size_t>()];
  EXPECT_EQ(cost.macs, chosen["macs"].get<int64_t>());
  EXPECT_LE(cost.macs, nn::graph_cost(io::load_onnx_graph(model_file("cnn"))).macs);
  Tensor x = Tensor::zeros({2, 1, 28, 28});
  for (int64_t i = 0; i < x.numel(); ++i)
    x.data<float>()[i] = static_cast<float>((i * 37) % 101) / 101.0f;
  nn::GraphModule m(g);
  m.eval();
  NoGradGuard no_grad;
  const Tensor mine = m.forward({{"input", Variable(x)}}).at("logits").value();
  const Tensor ort = run_ort(model, {{"input", x}}).at("logits");
  for (int64_t i = 0; i < mine.numel(); ++i) EXPECT_NEAR(mine.at(i), ort.at(i), 1e-4);
  EXPECT_TRUE(std::filesystem::file_size(dir.file("out/report.html")) > 1000);
  const std::string html = slurp(dir.file("out/report.html"));
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("Pareto front"), std::string::npos);
}

const std::vector<std::string> kQuick{"--dataset",
                                      "fashion-mnist",
                                      "--limit",
                                      "900",
                                      "--val-size",
                                      "300",
                                      "--steps",
                                      "6",
                                      "--population",
                                      "4",
                                      "--generations",
                                      "1",
                                      "--finetune-epochs",
                                      "1",
                                      "--width-ratios",
                                      "0.25,0.5,0.75,1",
                                      "--seed-ratios",
                                      "0.5",
                                      "--pick",
                                      "within:3",
                                      "--json"};

TEST(SearchCli, DynasWritesAFrontAndASmallerModel) {
  TempDir dir;
  std::vector<std::string> args{"search",        model_file("cnn"),   "--out-dir",
                                dir.file("out"), "--supernet-epochs", "1"};
  args.insert(args.end(), kQuick.begin(), kQuick.end());
  const CliResult r = run_tamp(args);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto summary = nlohmann::json::parse(r.out);
  EXPECT_EQ(summary["search"]["strategy"], "dynas");
  EXPECT_EQ(summary["supernet_steps"].get<int>(), 6);
  EXPECT_EQ(summary["validation_examples"].get<int>(), 300);
  expect_valid_search(summary["search"], 3);
  expect_exported_model(dir, summary);
  EXPECT_EQ(nlohmann::json::parse(slurp(dir.file("out/summary.json"))), summary);
}

TEST(SearchCli, BasicFineTunesEachCandidate) {
  TempDir dir;
  std::vector<std::string> args{
      "search", model_file("cnn"),   "--out-dir", dir.file("out"), "--strategy",
      "basic",  "--candidate-steps", "3",         "--search",      "random"};
  args.insert(args.end(), kQuick.begin(), kQuick.end());
  const CliResult r = run_tamp(args);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto summary = nlohmann::json::parse(r.out);
  EXPECT_EQ(summary["search"]["strategy"], "basic");
  EXPECT_EQ(summary["supernet_steps"].get<int>(), 0);
  expect_valid_search(summary["search"], 3);
  expect_exported_model(dir, summary);
}

// --compare-uniform: the searched network is the front's most accurate at no more MACs than
// the uniform one, and both are fine-tuned the same two ways (the same MACs either way).
TEST(SearchCli, CompareUniformTrainsBothSidesAlike) {
  TempDir dir;
  std::vector<std::string> args{"search",           model_file("cnn"),   "--out-dir",
                                dir.file("out"),    "--supernet-epochs", "1",
                                "--compare-uniform"};
  args.insert(args.end(), kQuick.begin(), kQuick.end());
  const CliResult r = run_tamp(args);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto summary = nlohmann::json::parse(r.out);
  const auto& s = summary["search"];
  ASSERT_EQ(summary["uniform_comparison"].size(), 1u);
  const auto& row = summary["uniform_comparison"][0];
  EXPECT_EQ(row["ratio"].get<double>(), 0.5);
  const int64_t uniform_macs = row["uniform_shared_weights"]["macs"].get<int64_t>();
  EXPECT_EQ(row["uniform_original_weights"]["macs"].get<int64_t>(), uniform_macs);
  const int64_t searched_macs = row["searched_shared_weights"]["macs"].get<int64_t>();
  EXPECT_EQ(row["searched_original_weights"]["macs"].get<int64_t>(), searched_macs);
  EXPECT_LE(searched_macs, uniform_macs);
  double best_within = -1;
  for (const auto& i : s["front"]) {
    const auto& c = s["candidates"][i.get<size_t>()];
    if (c["macs"].get<int64_t>() <= uniform_macs)
      best_within = std::max(best_within, c["accuracy"].get<double>());
  }
  int found = 0;
  for (const auto& i : s["front"]) {
    const auto& c = s["candidates"][i.get<size_t>()];
    if (c["description"] != row["searched"]) continue;
    ++found;
    EXPECT_EQ(c["macs"].get<int64_t>(), searched_macs);
    EXPECT_EQ(c["accuracy"].get<double>(), best_within);
  }
  EXPECT_EQ(found, 1);
  auto top1 = [&](const char* key) { return row[key]["test_top1"].get<double>(); };
  for (const char* key : {"uniform_shared_weights", "uniform_original_weights",
                          "searched_shared_weights", "searched_original_weights"}) {
    EXPECT_GE(top1(key), 0.0);
    EXPECT_LE(top1(key), 1.0);
  }
  EXPECT_NEAR(row["difference_pt"].get<double>(),
              100 * (std::max(top1("searched_shared_weights"), top1("searched_original_weights")) -
                     std::max(top1("uniform_shared_weights"), top1("uniform_original_weights"))),
              1e-9);
  if (row["searched"] == row["uniform"]) {  // the same network trained alike: the same result
    EXPECT_EQ(top1("searched_shared_weights"), top1("uniform_shared_weights"));
    EXPECT_EQ(top1("searched_original_weights"), top1("uniform_original_weights"));
  }
}

TEST(SearchCli, RecipeStageReplacesTheModel) {
  TempDir dir;
  {
    std::ofstream f(dir.file("search.yaml"));
    f << "model: " << model_file("cnn") << "\n"
      << "data: {dataset: fashion-mnist, limit: 600, eval_limit: 300}\n"
         "training: {epochs: 1, steps_per_epoch: 4}\n"
         "stages:\n"
         "  - name: search\n"
         "    search: {population: 4, generations: 1, width_ratios: [0.25, 0.5, 1], seed_ratios: "
         "[0.5], pick: \"within:50\"}\n"
         "  - name: finetune\n"
         "export: {format: float, path: model.onnx}\n";
  }
  const CliResult r =
      run_tamp({"run", dir.file("search.yaml"), "--out", dir.file("out"), "--quiet"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto summary = nlohmann::json::parse(slurp(dir.file("out/summary.json")));
  ASSERT_TRUE(summary.contains("search"));
  const auto& s = summary["search"];
  expect_valid_search(s, 50);
  const auto& chosen = s["candidates"][s["chosen"].get<size_t>()];
  EXPECT_EQ(nn::graph_cost(io::load_onnx_graph(dir.file("out/model.onnx"))).macs,
            chosen["macs"].get<int64_t>());
  EXPECT_LT(chosen["macs"].get<int64_t>(), s["candidates"][0]["macs"].get<int64_t>());
  EXPECT_NE(slurp(dir.file("out/report.html")).find("Architecture search"), std::string::npos);
}

TEST(SearchCli, BadArgumentsAreUsageErrors) {
  EXPECT_EQ(
      run_tamp({"search", model_file("cnn"), "--dataset", "fashion-mnist", "--objectives", "flops"})
          .code,
      2);
  EXPECT_EQ(
      run_tamp({"search", model_file("cnn"), "--dataset", "fashion-mnist", "--pick", "best"}).code,
      2);
  const CliResult r = run_tamp({"search", model_file("cnn"), "--dataset", "fashion-mnist",
                                "--objectives", "latency", "--limit", "100", "--val-size", "50",
                                "--steps", "1", "--supernet-epochs", "0"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("--ort-runner"), std::string::npos) << r.err;
}

}  // namespace
