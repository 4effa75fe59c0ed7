// `tamp quantize` (dynamic, weight-only) and `tamp convert` run as a user runs them: the files
// they write load in ONNX Runtime and in tamp and hold the ops the method promises; bad
// arguments are usage errors (exit 2), models with nothing to quantize bad input (exit 3).
#include "tamp_runner.h"

#include "support/ort_runner.h"
#include "support/test_data.h"

#include <tamp/io/onnx_import.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>

namespace tamp::test {
namespace {

int count_op(const std::string& path, const std::string& op) {
  int c = 0;
  for (const auto& n : io::load_onnx_graph(path).nodes) c += n.op_type == op;
  return c;
}

Tensor mlp_input() {
  Generator g(4);
  Tensor t = Tensor::empty({8, 784});
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = g.uniform();
  return t;
}

double max_diff(const Tensor& a, const Tensor& b) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(a.at(i) - b.at(i)));
  return m;
}

TEST(QuantizeCli, DynamicWritesMatMulIntegerThatOrtRuns) {
  TempDir dir;
  const std::string out = dir.file("mlp_dyn.onnx");
  const CliResult r =
      run_tamp({"quantize", model_file("mlp"), "--method", "dynamic", "--out", out, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["method"], "dynamic");
  EXPECT_LT(j["bytes_after"].get<double>(), 0.27 * j["bytes_before"].get<double>());
  EXPECT_EQ(count_op(out, "MatMulInteger"), 3);
  const Tensor x = mlp_input();
  const Tensor q = run_ort(out, {{"input", x}}).at("logits");
  const Tensor f = run_ort(model_file("mlp"), {{"input", x}}).at("logits");
  EXPECT_LT(max_diff(q, f), 0.02);
}

TEST(QuantizeCli, WeightOnlyGptqWithCalibrationData) {
  TempDir dir;
  const std::string out = dir.file("mlp_w4.onnx");
  const CliResult r =
      run_tamp({"quantize", model_file("mlp"), "--method", "weight-only", "--bits", "4",
                "--group-size", "64", "--algorithm", "gptq", "--asymmetric", "--calib-data",
                "fashion-mnist", "--calib-batches", "2", "--out", out, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["algorithm"], "gptq");
  EXPECT_EQ(j["calibration_batches"], 2);
  ASSERT_EQ(j["layers"].size(), 3u);
  for (const auto& l : j["layers"]) {
    EXPECT_EQ(l["block_size"], 64);
    EXPECT_LT(l["relative_error"].get<double>(), 0.05);
  }
  EXPECT_EQ(count_op(out, "MatMulNBits"), 3);
  const Tensor x = mlp_input();
  const Tensor q = run_ort(out, {{"input", x}}).at("logits");
  const Tensor f = run_ort(model_file("mlp"), {{"input", x}}).at("logits");
  EXPECT_LT(max_diff(q, f), 0.05);
}

TEST(QuantizeCli, TextReportAndEvaluation) {
  TempDir dir;
  const CliResult r =
      run_tamp({"quantize", model_file("mlp"), "--method", "weight-only", "--out",
                dir.file("w.onnx"), "--eval-data", "fashion-mnist:test", "--no-such-option"});
  // An unknown option is a usage error and the file is not written.
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("w.onnx")));
  const CliResult ok =
      run_tamp({"quantize", model_file("mlp"), "--method", "weight-only", "--out",
                dir.file("w.onnx"), "--eval-data", "fashion-mnist:test", "--limit", "500"});
  ASSERT_EQ(ok.code, 0) << ok.err;
  EXPECT_NE(ok.out.find("weight-only int4 rtn (symmetric, group 32)"), std::string::npos) << ok.out;
  // --limit keeps the first 500 examples of the evaluation split.
  EXPECT_NE(ok.out.find("(tamp's evaluation, 500 examples)"), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("top-1"), std::string::npos) << ok.out;
}

TEST(QuantizeCli, BadArgumentsAndModels) {
  TempDir dir;
  const std::string out = dir.file("x.onnx");
  const std::string mlp = model_file("mlp");
  EXPECT_EQ(
      run_tamp({"quantize", mlp, "--method", "weight-only", "--bits", "3", "--out", out}).code, 2);
  EXPECT_EQ(
      run_tamp({"quantize", mlp, "--method", "weight-only", "--group-size", "24", "--out", out})
          .code,
      2);
  EXPECT_EQ(
      run_tamp({"quantize", mlp, "--method", "weight-only", "--algorithm", "gptq", "--out", out})
          .code,
      2);
  EXPECT_EQ(
      run_tamp({"quantize", mlp, "--method", "weight-only", "--algorithm", "awq", "--out", out})
          .code,
      2);
  EXPECT_EQ(run_tamp({"quantize", mlp, "--method", "dynamic", "--bits", "4", "--out", out}).code,
            2);
  EXPECT_EQ(run_tamp({"quantize", mlp, "--method", "magic", "--out", out}).code, 2);
  EXPECT_EQ(run_tamp({"quantize", mlp, "--method", "dynamic", "--symmetric", "--asymmetric",
                      "--out", out})
                .code,
            2);
  const CliResult none =
      run_tamp({"quantize", mlp, "--method", "dynamic", "--exclude", "Gemm", "--out", out});
  EXPECT_EQ(none.code, 3) << none.err;
  EXPECT_NE(none.err.find("nothing to quantize"), std::string::npos) << none.err;
  EXPECT_EQ(
      run_tamp({"quantize", dir.file("missing.onnx"), "--method", "dynamic", "--out", out}).code,
      3);
}

TEST(ConvertCli, Fp16KeepsIoTypesAndRunsWithinOneHundredth) {
  TempDir dir;
  const std::string out = dir.file("mlp16.onnx");
  const CliResult r = run_tamp(
      {"convert", model_file("mlp"), "--to", "fp16", "--keep-io-types", "--out", out, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["blocked_ops"], nlohmann::json({"Gemm", "Relu"}));
  EXPECT_LT(j["bytes_after"].get<double>(), 0.55 * j["bytes_before"].get<double>());
  const Tensor x = mlp_input();
  EXPECT_LT(max_diff(run_ort(out, {{"input", x}}).at("logits"),
                     run_ort(model_file("mlp"), {{"input", x}}).at("logits")),
            1e-2);
  // --block-op adds to the list; bad values are usage errors.
  EXPECT_EQ(run_tamp({"convert", model_file("mlp"), "--to", "fp16", "--no-default-block-list",
                      "--block-op", "Relu", "--out", out})
                .code,
            0);
  EXPECT_EQ(count_op(out, "Cast"), 4);  // into and out of float32 around each of the two Relus
  EXPECT_EQ(run_tamp({"convert", model_file("mlp"), "--to", "int8", "--out", out}).code, 2);
  EXPECT_EQ(
      run_tamp({"convert", model_file("mlp"), "--to", "fp16", "--block-node", "nope", "--out", out})
          .code,
      2);
}

}  // namespace
}  // namespace tamp::test
