// `tamp quantize --method static` with SmoothQuant, AdaRound, the sensitivity report and the
// bf16 fallback, run as a user runs it: the files pass the export parity check and ONNX Runtime
// computes what tamp computes from them.
#include "tamp_runner.h"

#include "support/ort_runner.h"
#include "support/temp_dir.h"
#include "support/test_data.h"

#include <tamp/io/idx.h>
#include <tamp/io/onnx_import.h>
#include <tamp/nn/graph_module.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>

namespace tamp::test {
namespace {

Tensor test_images(int64_t n, bool flat) {
  static const nn::TrainTest data = io::fashion_mnist("/usr/share/datasets/fashion-mnist");
  Tensor x = data.test->slice(0, n)->x();
  return flat ? x.reshape({n, 784}) : x;
}

// ORT and tamp run the written file; their logits agree within 1e-3 of the largest.
void expect_ort_agrees(const std::string& path, const Tensor& x) {
  const nn::Graph g = io::load_onnx_graph(path);
  const Tensor ort = run_ort(path, {{g.inputs.at(0).name, x}}).at(g.outputs.at(0).name);
  nn::GraphModule m(g);
  m.eval();
  NoGradGuard no_grad;
  const Tensor mine =
      m.forward({{g.inputs.at(0).name, Variable(x)}}).at(g.outputs.at(0).name).value();
  double d = 0, s = 0;
  for (int64_t i = 0; i < ort.numel(); ++i) {
    d = std::max(d, std::abs(ort.at(i) - mine.at(i)));
    s = std::max(s, std::abs(mine.at(i)));
  }
  EXPECT_LT(d, 1e-3 * s + 1e-6);
}

TEST(QuantizePtqRecoveryCli, SmoothQuantOnTheMlpFoldsAndExportsPlainQdq) {
  TempDir dir;
  const std::string out = dir.file("mlp_sq.onnx");
  const CliResult r =
      run_tamp({"quantize", model_file("mlp"), "--method", "static", "--smooth-quant=0.6",
                "--calib-data", "fashion-mnist", "--calib-batches", "2", "--out", out, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.contains("smooth_quant")) << j;
  EXPECT_EQ(j["smooth_quant"]["alpha"], 0.6);
  ASSERT_GE(j["smooth_quant"]["groups"].size(), 1u);
  for (const auto& grp : j["smooth_quant"]["groups"]) EXPECT_TRUE(grp["through_relu"].get<bool>());
  EXPECT_TRUE(j["parity"]["passed"].get<bool>()) << j["parity"];
  for (const auto& n : io::load_onnx_graph(out, {.fold_constants = false}).nodes)
    EXPECT_NE(n.op_type, "Mul");
  expect_ort_agrees(out, test_images(128, true));
}

TEST(QuantizePtqRecoveryCli, AdaRoundReportAndBf16FallbackOnTheCnn) {
  TempDir dir;
  const std::string out = dir.file("cnn_ada.onnx"), report = dir.file("sensitivity.json");
  const CliResult r =
      run_tamp({"quantize", model_file("cnn_fmnist"), "--method", "static", "--adaround",
                "--adaround-steps", "20", "--report", report, "--fallback-bf16", "1",
                "--calib-data", "fashion-mnist", "--calib-batches", "2", "--out", out, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.contains("adaround")) << j;
  EXPECT_GE(j["adaround"]["layers"].size(), 3u);
  for (const auto& l : j["adaround"]["layers"]) {
    EXPECT_LE(l["mse_adaround"].get<double>(), l["mse_nearest"].get<double>()) << l;
  }
  ASSERT_TRUE(std::filesystem::exists(report));
  const auto rep = nlohmann::json::parse(slurp(report));
  const auto& layers = rep["layers"];
  ASSERT_GE(layers.size(), 4u);
  for (size_t i = 1; i < layers.size(); ++i)
    EXPECT_GE(layers[i - 1]["output_mse"], layers[i]["output_mse"]);
  EXPECT_EQ(layers[0]["precision"], "bf16");
  EXPECT_EQ(layers[1]["precision"], "int8");
  EXPECT_TRUE(layers[0]["top1"].is_number());  // the calibration data has labels
  ASSERT_EQ(j["fallback_bf16"].size(), 1u);
  EXPECT_EQ(j["fallback_bf16"][0], layers[0]["node"]);
  EXPECT_TRUE(j["parity"]["passed"].get<bool>()) << j["parity"];
  int bf16 = 0;
  for (const auto& [name, t] : io::load_onnx_graph(out, {.fold_constants = false}).initializers) {
    bf16 += t.dtype() == DType::kBFloat16;
  }
  EXPECT_GE(bf16, 1);
  expect_ort_agrees(out, test_images(128, false));
}

TEST(QuantizePtqRecoveryCli, BadArguments) {
  TempDir dir;
  auto code = [&](std::vector<std::string> extra) {
    std::vector<std::string> args{"quantize", model_file("cnn"), "--out", dir.file("o.onnx")};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_tamp(args).code;
  };
  EXPECT_EQ(code({"--method", "static", "--calib-data", "fashion-mnist", "--smooth-quant=1.5"}), 2);
  EXPECT_EQ(code({"--method", "static", "--calib-data", "fashion-mnist", "--smooth-quant=x"}), 2);
  EXPECT_EQ(code({"--method", "dynamic", "--adaround"}), 2);
  EXPECT_EQ(code({"--method", "static", "--calib-data", "fashion-mnist", "--adaround-steps", "0"}),
            2);
}

}  // namespace
}  // namespace tamp::test
