// `tamp quantize --method static` and `tamp train --qat` run as a user runs them: the int8
// files they write are fused by ONNX Runtime (no float Conv/Gemm left in its optimized
// graph), ORT and tamp compute the same logits from them, ORT's accuracy on Fashion-MNIST
// images equals tamp's simulated accuracy, their export parity check passes, and bad
// arguments are usage errors (exit 2), models with nothing to quantize bad input (exit 3).
// The default (portable) target holds on every CPU; the vnni target is checked against ORT
// only on CPUs with VNNI, and elsewhere against what tamp says ORT computes on this CPU.
#include "tamp_runner.h"

#include "support/host_cpu.h"
#include "support/ort_runner.h"
#include "support/test_data.h"

#include <tamp/io/idx.h>
#include <tamp/io/onnx_import.h>
#include <tamp/nn/graph_module.h>
#include <tamp/scheduler/export_parity.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

namespace tamp::test {
namespace {

int count_op(const std::string& path, const std::string& op) {
  int c = 0;
  for (const auto& n : io::load_onnx_graph(path, {.fold_constants = false}).nodes)
    c += n.op_type == op;
  return c;
}

// The first n Fashion-MNIST test images and labels.
std::pair<Tensor, Tensor> test_images(int64_t n) {
  static const nn::TrainTest data = io::fashion_mnist("/usr/share/datasets/fashion-mnist");
  auto s = data.test->slice(0, n);
  return {s->x(), s->y()};
}

Tensor tamp_run(const std::string& path, const Tensor& x) {
  nn::GraphModule m(io::load_onnx_graph(path));
  m.eval();
  NoGradGuard no_grad;
  return m.forward({{"input", Variable(x)}}).at("logits").value();
}

// What tamp says ONNX Runtime computes from the file on this CPU: fused as ORT fuses it, with
// this CPU's integer arithmetic (int16 pair saturation on x86 without VNNI).
Tensor tamp_run_as_ort_here(const std::string& path, const Tensor& x) {
  nn::GraphModule m(fused_like_onnx_runtime(io::load_onnx_graph(path)));
  m.set_integer_arithmetic(host_integer_arithmetic());
  m.eval();
  NoGradGuard no_grad;
  return m.forward({{"input", Variable(x)}}).at("logits").value();
}

std::vector<int64_t> argmax_rows(const Tensor& t) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < t.dim(0); ++i) {
    const float* r = t.data<float>() + i * t.dim(1);
    out.push_back(std::max_element(r, r + t.dim(1)) - r);
  }
  return out;
}

double agreement(const Tensor& a, const Tensor& b) {
  const auto x = argmax_rows(a), y = argmax_rows(b);
  double same = 0;
  for (size_t i = 0; i < x.size(); ++i) same += x[i] == y[i];
  return same / static_cast<double>(x.size());
}

double accuracy(const Tensor& logits, const Tensor& labels) {
  const auto x = argmax_rows(logits);
  double hits = 0;
  for (size_t i = 0; i < x.size(); ++i) hits += x[i] == labels.at(static_cast<int64_t>(i));
  return hits / static_cast<double>(x.size());
}

double max_diff(const Tensor& a, const Tensor& b) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(a.at(i) - b.at(i)));
  return m;
}

// The scale of the model output's DequantizeLinear (one output quantization step).
double output_step(const std::string& path) {
  const nn::Graph g = io::load_onnx_graph(path, {.fold_constants = false});
  const int p = g.producer(g.outputs.at(0).name);
  EXPECT_GE(p, 0);
  const nn::Node& n = g.nodes.at(static_cast<size_t>(p));
  EXPECT_EQ(n.op_type, "DequantizeLinear");
  return g.initializers.at(n.inputs.at(1)).at(0);
}

std::string target_of(const std::string& path) {
  const auto m = io::load_onnx_graph(path, {.fold_constants = false}).metadata;
  auto it = m.find("tamp.quantization_target");
  return it == m.end() ? "(none)" : it->second;
}

// The dtype of every weight DequantizeLinear's integers (an initializer) in the file.
std::set<DType> weight_dtypes(const std::string& path) {
  const nn::Graph g = io::load_onnx_graph(path, {.fold_constants = false});
  std::set<DType> out;
  for (const auto& n : g.nodes) {
    if ((n.op_type == "DequantizeLinear" || n.op_type == "QLinearConv" ||
         n.op_type == "MatMulInteger") &&
        !n.inputs.empty()) {
      const size_t w = n.op_type == "QLinearConv" ? 3 : n.op_type == "MatMulInteger" ? 1 : 0;
      auto it = g.initializers.find(n.inputs.at(w));
      if (it != g.initializers.end() && it->second.rank() >= 2) out.insert(it->second.dtype());
    }
  }
  return out;
}

// The export parity the command reported: passed, on at least `examples` examples.
void expect_parity_passed(const nlohmann::json& parity, int64_t examples,
                          const std::string& arithmetic) {
  ASSERT_TRUE(parity.is_object()) << parity;
  EXPECT_TRUE(parity["passed"].get<bool>()) << parity;
  EXPECT_EQ(parity["arithmetic"], arithmetic);
  EXPECT_GE(parity["examples"].get<int64_t>(), examples);
  EXPECT_GE(parity["agreement"].get<double>(), 0.999) << parity;
  EXPECT_LE(parity["max_step_diff"].get<double>(), 1.0001) << parity;
}

// ORT fuses every Conv/Gemm of the file (its optimized graph holds no float one), and ORT's
// logits equal tamp's run of the same file within one output step.
void expect_fused_and_agreeing(const std::string& path, const TempDir& dir, int qlinear_conv,
                               int qgemm) {
  const auto [x, y] = test_images(256);
  const std::string opt = dir.file("opt.onnx");
  const Tensor ort = run_ort(path, {{"input", x}}, {.optimized_model = opt}).at("logits");
  for (const char* fp : {"Conv", "Gemm", "MatMul", "FakeQuantize"})
    EXPECT_EQ(count_op(opt, fp), 0) << fp;
  EXPECT_EQ(count_op(opt, "QLinearConv"), qlinear_conv);
  EXPECT_EQ(count_op(opt, "QGemm"), qgemm);
  const Tensor mine = tamp_run(path, x);
  EXPECT_GE(agreement(ort, mine), 0.996);  // 256 images: at most one differs (a tie)
  EXPECT_LE(max_diff(ort, mine), output_step(path) * 1.0001);
  // What tamp says ORT computes here (fused integer ops, this CPU's arithmetic) is ORT's result.
  EXPECT_LE(max_diff(ort, tamp_run_as_ort_here(path, x)), output_step(path) * 1.0001);
}

TEST(QuantizeStaticCli, EntropyQdqIsFusedByOrtAndAgreesWithTamp) {
  TempDir dir;
  const std::string out = dir.file("cnn_int8.onnx");
  const CliResult r = run_tamp({"quantize", model_file("cnn"), "--method", "static",
                                "--calibration", "entropy", "--calib-data", "fashion-mnist",
                                "--calib-batches", "2", "--format", "qdq", "--out", out, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["method"], "static");
  EXPECT_EQ(j["format"], "qdq");
  EXPECT_EQ(j["target"], "portable");
  EXPECT_EQ(j["calibration"], "entropy");
  EXPECT_EQ(j["calibration_batches"], 2);
  EXPECT_EQ(j["quantized_weights"], 4);
  EXPECT_LE(j["bytes_after"].get<double>(), 0.27 * j["bytes_before"].get<double>());
  EXPECT_EQ(count_op(out, "FakeQuantize"), 0);
  // Portable: uint8 weights, recorded in the file; the parity ran on the calibration batches.
  EXPECT_EQ(weight_dtypes(out), std::set<DType>{DType::kUInt8});
  EXPECT_EQ(target_of(out), "portable");
  expect_parity_passed(j["parity"], 128, "avx2");
  EXPECT_EQ(j["parity"]["dataset"], "fashion-mnist:train");
  expect_fused_and_agreeing(out, dir, 2, 2);
}

// Accuracy recovery (docs/ptq_recovery.md) on the trained CNN: cross-layer equalization of
// conv1 -> Relu -> MaxPool -> conv2 and bias correction of its four layers; the file is plain
// QDQ that ORT fuses, and ORT computes what tamp simulated.
TEST(QuantizeStaticCli, EqualizationAndBiasCorrectionExportPlainQdqThatOrtAgreesWith) {
  TempDir dir;
  const std::string out = dir.file("cnn_recovered.onnx");
  const CliResult r =
      run_tamp({"quantize", model_file("cnn_fmnist"), "--method", "static", "--calib-data",
                "fashion-mnist", "--calib-batches", "4", "--equalize", "--bias-correction",
                "--bias-correction-batches", "2", "--out", out, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["equalization"]["pairs"], 1);
  EXPECT_EQ(j["bias_correction"]["layers"], 4);
  EXPECT_EQ(j["bias_correction"]["batches"], 2);
  expect_parity_passed(j["parity"], 256, "avx2");
  expect_fused_and_agreeing(out, dir, 2, 2);
  // The biases moved: the same command without bias correction writes other int32 biases.
  const std::string plain = dir.file("cnn_equalized.onnx");
  ASSERT_EQ(run_tamp({"quantize", model_file("cnn_fmnist"), "--method", "static", "--calib-data",
                      "fashion-mnist", "--calib-batches", "4", "--equalize", "--out", plain})
                .code,
            0);
  const auto a = io::load_onnx_graph(out, {.fold_constants = false}),
             b = io::load_onnx_graph(plain, {.fold_constants = false});
  int differing = 0;
  for (const auto& [name, t] : a.initializers) {
    auto it = b.initializers.find(name);
    if (t.dtype() == DType::kInt32 && it != b.initializers.end() && max_diff(t, it->second) > 0)
      ++differing;
  }
  EXPECT_EQ(differing, 4);
}

TEST(QuantizeStaticCli, RecoveryFlagsNeedStaticQuantization) {
  TempDir dir;
  for (const char* flag : {"--equalize", "--bias-correction", "--bn-reestimate"}) {
    const CliResult r = run_tamp(
        {"quantize", model_file("cnn"), "--method", "dynamic", flag, "--out", dir.file("x.onnx")});
    EXPECT_EQ(r.code, 2) << flag << ": " << r.err;
  }
  EXPECT_EQ(run_tamp({"quantize", model_file("cnn"), "--method", "static", "--calib-data",
                      "fashion-mnist", "--equalize-relu6", "--out", dir.file("x.onnx")})
                .code,
            2);
  // No BatchNorm left to re-estimate (the file was exported with BN folded): bad input.
  EXPECT_EQ(run_tamp({"quantize", model_file("cnn"), "--method", "static", "--calib-data",
                      "fashion-mnist", "--bn-reestimate", "--out", dir.file("x.onnx")})
                .code,
            3);
}

// Full-range int8 weights: exact in ORT on CPUs with VNNI only.
TEST(QuantizeStaticCli, VnniTargetAgreesWithOrtOnVnniCpus) {
  if (const std::string why = skip_unless_uint8_int8_exact(); !why.empty()) GTEST_SKIP() << why;
  TempDir dir;
  const std::string out = dir.file("cnn_vnni.onnx");
  const CliResult r = run_tamp({"quantize", model_file("cnn"), "--method", "static", "--calib-data",
                                "fashion-mnist", "--calib-batches", "2", "--target", "vnni",
                                "--out", out, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["target"], "vnni");
  expect_parity_passed(j["parity"], 128, "exact");
  EXPECT_EQ(weight_dtypes(out), std::set<DType>{DType::kInt8});
  expect_fused_and_agreeing(out, dir, 2, 2);
}

// A vnni-target file on whatever CPU this is: tamp says what ORT computes here (exact with
// VNNI, int16 pairs saturated without), and the parity check, asked for this CPU's arithmetic,
// reports what ORT will do. On x86 without VNNI the int8 weights do saturate.
TEST(QuantizeStaticCli, VnniTargetOnThisCpuIsWhatTampSaysOrtComputes) {
  TempDir dir;
  const std::string out = dir.file("cnn_vnni.onnx");
  const CliResult r = run_tamp({"quantize", model_file("cnn"), "--method", "static", "--calib-data",
                                "fashion-mnist", "--calib-batches", "2", "--target", "vnni",
                                "--parity-arithmetic", "host", "--out", out, "--json"});
  ASSERT_TRUE(r.code == 0 || r.code == 4) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["parity"]["arithmetic"],
            std::string(integer_arithmetic_name(host_integer_arithmetic())));
  EXPECT_EQ(r.code == 0, j["parity"]["passed"].get<bool>());
  EXPECT_EQ(weight_dtypes(out), std::set<DType>{DType::kInt8});
  EXPECT_EQ(target_of(out), "vnni");
  const auto [x, y] = test_images(256);
  const Tensor ort = run_ort(out, {{"input", x}}).at("logits");
  EXPECT_LE(max_diff(ort, tamp_run_as_ort_here(out, x)), output_step(out) * 1.0001);
  if (host_saturates_int16_pairs()) {
    // The file as written (float DequantizeLinear -> Conv) is what training simulated, not ORT.
    EXPECT_GT(max_diff(ort, tamp_run(out, x)), 2 * output_step(out));
  }
  // tamp eval --arithmetic host: ORT's accuracy on this CPU.
  const CliResult e = run_tamp({"eval", out, "--dataset", "fashion-mnist:test", "--limit", "256",
                                "--arithmetic", "host", "--json"});
  ASSERT_EQ(e.code, 0) << e.err;
  const auto je = nlohmann::json::parse(e.out);
  EXPECT_EQ(je["examples"], 256);
  EXPECT_NEAR(je["top1"].get<double>(), accuracy(ort, y), 1.5 / 256) << je;
}

// Per-channel histogram ranges for the weights (MSE per output channel), fused by ORT.
TEST(QuantizeStaticCli, MseWeightCalibrationIsFusedByOrtAndAgreesWithTamp) {
  TempDir dir;
  const std::string out = dir.file("cnn_w_mse.onnx");
  const CliResult r =
      run_tamp({"quantize", model_file("cnn"), "--method", "static", "--weight-calibration", "mse",
                "--calib-data", "fashion-mnist", "--calib-batches", "2", "--out", out, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["weight_calibration"], "mse");
  EXPECT_NE(j["weights"].get<std::string>().find("per-channel"), std::string::npos) << j["weights"];
  expect_fused_and_agreeing(out, dir, 2, 2);
  EXPECT_EQ(run_tamp({"quantize", model_file("cnn"), "--method", "dynamic", "--weight-calibration",
                      "mse", "--out", dir.file("d.onnx")})
                .code,
            2);
  EXPECT_EQ(run_tamp({"quantize", model_file("cnn"), "--method", "static", "--weight-calibration",
                      "median", "--calib-data", "fashion-mnist", "--out", dir.file("m.onnx")})
                .code,
            2);
}

TEST(QuantizeStaticCli, EveryCalibrationMethodWritesAModelOrtRuns) {
  TempDir dir;
  const auto [x, y] = test_images(64);
  const Tensor f = run_ort(model_file("cnn"), {{"input", x}}).at("logits");
  for (const char* method : {"minmax", "percentile", "mse", "moving-average"}) {
    const std::string out = dir.file(std::string(method) + ".onnx");
    const CliResult r =
        run_tamp({"quantize", model_file("cnn"), "--method", "static", "--calibration", method,
                  "--calib-data", "fashion-mnist", "--calib-batches", "1", "--out", out});
    ASSERT_EQ(r.code, 0) << method << ": " << r.err;
    EXPECT_NE(r.out.find("static 8-bit (QDQ, target portable)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("parity: argmax agreement"), std::string::npos) << r.out;
    const Tensor q = run_ort(out, {{"input", x}}).at("logits");
    // The untrained CNN's logits are small and close together: a loose agreement, but a
    // wrong scale or zero point would scatter them.
    double scale = 0;
    for (int64_t i = 0; i < f.numel(); ++i)
      scale = std::max(scale, static_cast<double>(std::abs(f.at(i))));
    EXPECT_LT(max_diff(q, f), 0.1 * scale) << method;
  }
}

TEST(QuantizeStaticCli, QOperatorPowerOfTwoAndExclusions) {
  TempDir dir;
  const std::string qop = dir.file("qop.onnx");
  CliResult r = run_tamp({"quantize", model_file("cnn"), "--method", "static", "--calib-data",
                          "fashion-mnist", "--calib-batches", "1", "--format", "qoperator",
                          "--power-of-two", "--out", qop, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["power_of_two"], true);
  EXPECT_EQ(count_op(qop, "QLinearConv"), 2);
  EXPECT_EQ(count_op(qop, "MatMulInteger"), 2);
  for (const char* fp : {"Conv", "Gemm", "MatMul"}) EXPECT_EQ(count_op(qop, fp), 0) << fp;
  // Every float scale of the file is a power of two.
  const nn::Graph g = io::load_onnx_graph(qop, {.fold_constants = false});
  int scales = 0;
  for (const auto& n : g.nodes) {
    if (n.op_type != "QLinearConv") continue;
    for (size_t i : {1, 4, 6}) {
      const Tensor& s = g.initializers.at(n.inputs.at(i));
      for (int64_t k = 0; k < s.numel(); ++k, ++scales) {
        int e = 0;
        EXPECT_EQ(std::frexp(s.at(k), &e), 0.5) << n.name << " input " << i;
      }
    }
  }
  EXPECT_GT(scales, 64);
  const auto [x, y] = test_images(128);
  const Tensor ort = run_ort(qop, {{"input", x}}).at("logits");
  EXPECT_LE(max_diff(ort, tamp_run(qop, x)), output_step(qop) * 1.0001);

  // QOperator with the last Gemm kept float: it reads the dequantized fc1 output.
  const std::string qop_fc2 = dir.file("qop_fc2.onnx");
  r = run_tamp({"quantize", model_file("cnn"), "--method", "static", "--calib-data",
                "fashion-mnist", "--calib-batches", "1", "--format", "qoperator", "--exclude",
                "/fc2/Gemm", "--out", qop_fc2});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(count_op(qop_fc2, "MatMulInteger"), 1);
  EXPECT_EQ(count_op(qop_fc2, "Gemm"), 1);
  {
    const Tensor o = run_ort(qop_fc2, {{"input", x}}).at("logits");
    const Tensor t = tamp_run(qop_fc2, x);
    EXPECT_LT(max_diff(o, t), 1e-4);  // the float Gemm after integer layers: float rounding only
  }

  // Excluding the Gemms keeps them float: ORT fuses the convolutions only.
  const std::string conv_only = dir.file("conv_only.onnx");
  r = run_tamp({"quantize", model_file("cnn"), "--method", "static", "--calib-data",
                "fashion-mnist", "--calib-batches", "1", "--exclude", "Gemm", "--out", conv_only});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string opt = dir.file("opt.onnx");
  run_ort(conv_only, {{"input", x}}, {.optimized_model = opt});
  EXPECT_EQ(count_op(opt, "QLinearConv"), 2);
  EXPECT_EQ(count_op(opt, "Gemm") + count_op(opt, "FusedGemm"),
            2);  // ORT fuses fc1's Relu into FusedGemm
  EXPECT_EQ(count_op(opt, "QGemm"), 0);
}

TEST(QuantizeStaticCli, BadArgumentsAndModels) {
  TempDir dir;
  const std::string out = dir.file("x.onnx");
  const std::string cnn = model_file("cnn");
  auto code = [&](std::vector<std::string> extra) {
    std::vector<std::string> args{"quantize", cnn, "--out", out};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_tamp(args);
  };
  EXPECT_EQ(code({"--method", "static"}).code, 2);  // no calibration data
  EXPECT_NE(code({"--method", "static"}).err.find("--calib-data"), std::string::npos);
  EXPECT_EQ(code({"--method", "static", "--calib-data", "fashion-mnist", "--bits", "4"}).code, 2);
  EXPECT_EQ(
      code({"--method", "static", "--calib-data", "fashion-mnist", "--calibration", "kl"}).code, 2);
  EXPECT_EQ(
      code({"--method", "static", "--calib-data", "fashion-mnist", "--format", "qlinear"}).code, 2);
  EXPECT_EQ(code({"--method", "static", "--calib-data", "fashion-mnist", "--asymmetric"}).code, 2);
  EXPECT_EQ(code({"--method", "static", "--calib-data", "fashion-mnist:validation"}).code, 2);
  EXPECT_EQ(code({"--method", "dynamic", "--format", "qdq"}).code, 2);
  EXPECT_EQ(code({"--method", "dynamic", "--calibration", "entropy"}).code, 2);
  EXPECT_EQ(code({"--method", "weight-only", "--power-of-two"}).code, 2);
  // Nothing left to quantize, or an exclusion naming nothing: bad input, nothing written.
  const CliResult none =
      code({"--method", "static", "--calib-data", "fashion-mnist", "--exclude", "Conv", "Gemm"});
  EXPECT_EQ(none.code, 3) << none.err;
  EXPECT_NE(none.err.find("no quantizable op"), std::string::npos) << none.err;
  const CliResult typo =
      code({"--method", "static", "--calib-data", "fashion-mnist", "--exclude", "Comv"});
  EXPECT_EQ(typo.code, 3) << typo.err;
  EXPECT_NE(typo.err.find("Comv"), std::string::npos) << typo.err;
  EXPECT_FALSE(std::filesystem::exists(out));
}

// QAT from the untrained CNN on a slice of Fashion-MNIST: the exported model's accuracy in
// ORT is the simulated accuracy tamp reported.
void qat_round_trip(const std::string& model, const std::string& format, int folded,
                    const std::vector<std::string>& extra = {}) {
  TempDir dir;
  const std::string out = dir.file("qat.onnx");
  std::vector<std::string> args{"train", model_file(model), "--dataset", "fashion-mnist", "--limit",
                                "512",   "--steps",         "8",         "--lr",          "0.05",
                                "--qat", "--format",        format,      "--out",         out,
                                "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  const CliResult r = run_tamp(args);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["quantization"]["format"], format);
  EXPECT_EQ(j["quantization"]["quantized_weights"], 4);
  EXPECT_EQ(j["quantization"]["folded_batch_norms"], folded);
  EXPECT_EQ(j["test"]["examples"], 512);
  const std::string target = j["quantization"]["target"];
  expect_parity_passed(j["quantization"]["parity"], 512, target == "portable" ? "avx2" : "exact");
  EXPECT_EQ(target_of(out), target);
  const auto [x, y] = test_images(512);
  const Tensor ort = run_ort(out, {{"input", x}}).at("logits");
  EXPECT_NEAR(accuracy(ort, y), j["test"]["top1"].get<double>(), 2.5 / 512)
      << model << " " << format;
  EXPECT_LE(max_diff(ort, tamp_run(out, x)), output_step(out) * 1.0001);
  EXPECT_LE(max_diff(ort, tamp_run_as_ort_here(out, x)), output_step(out) * 1.0001);
  if (format == "qdq") {
    TempDir d2;
    run_ort(out, {{"input", x}}, {.optimized_model = d2.file("opt.onnx")});
    for (const char* fp : {"Conv", "Gemm", "BatchNormalization"})
      EXPECT_EQ(count_op(d2.file("opt.onnx"), fp), 0) << fp;
  } else {
    EXPECT_EQ(count_op(out, "QLinearConv"), 2);
  }
}

TEST(TrainQatCli, CnnQdqMatchesSimulatedAccuracyInOrt) { qat_round_trip("cnn", "qdq", 0); }
TEST(TrainQatCli, VnniTargetMatchesSimulatedAccuracyInOrtOnVnniCpus) {
  if (const std::string why = skip_unless_uint8_int8_exact(); !why.empty()) GTEST_SKIP() << why;
  qat_round_trip("cnn", "qdq", 0, {"--target", "vnni"});
  qat_round_trip("cnn_bn_train", "qoperator", 2, {"--target", "vnni"});
}
// Weights in [-127, 127]: exact on ARM and wherever vnni is; on x86 without VNNI its parity
// check, run for ARM (exact arithmetic), passes, and ORT here may differ.
TEST(TrainQatCli, ArmTargetWritesNarrowInt8Weights) {
  TempDir dir;
  const std::string out = dir.file("arm.onnx");
  const CliResult r = run_tamp({"train", model_file("cnn"), "--dataset", "fashion-mnist", "--limit",
                                "256", "--steps", "4", "--qat", "--target", "arm",
                                "--weight-observer", "percentile", "--out", out, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["quantization"]["target"], "arm");
  EXPECT_EQ(j["quantization"]["weights"].get<std::string>().rfind("int8 symmetric", 0), 0u)
      << j["quantization"];
  EXPECT_NE(j["quantization"]["weights"].get<std::string>().find("narrow"), std::string::npos);
  expect_parity_passed(j["quantization"]["parity"], 256, "exact");
  EXPECT_EQ(target_of(out), "arm");
  const nn::Graph g = io::load_onnx_graph(out, {.fold_constants = false});
  int64_t weights = 0;
  for (const auto& [name, t] : g.initializers) {
    if (t.dtype() != DType::kInt8 || t.rank() < 2) continue;
    ++weights;
    for (int64_t i = 0; i < t.numel(); ++i)
      ASSERT_GE(t.at(i), -127) << name;  // the percentile clips some
  }
  EXPECT_EQ(weights, 4);
}
TEST(TrainQatCli, CnnQOperatorMatchesSimulatedAccuracyInOrt) {
  qat_round_trip("cnn", "qoperator", 0);
}
TEST(TrainQatCli, BatchNormCnnFoldsAndMatchesInOrt) { qat_round_trip("cnn_bn_train", "qdq", 2); }
// BN trains live (batch statistics) in epoch 0, frozen in epoch 1; the export folds the final
// running statistics and ORT computes what tamp reported.
TEST(TrainQatCli, BatchNormLiveUntilEpochOneMatchesInOrt) {
  qat_round_trip("cnn_bn_train", "qdq", 2, {"--epochs", "2", "--freeze-bn", "1"});
  qat_round_trip("cnn_bn_train", "qoperator", 2, {"--epochs", "2", "--freeze-bn", "never"});
}
// Weight ranges by a per-channel percentile histogram at every step.
TEST(TrainQatCli, PercentileWeightObserverMatchesInOrt) {
  qat_round_trip("cnn", "qdq", 0, {"--weight-observer", "percentile"});
}

TEST(TrainQatCli, QatOptionsNeedQat) {
  TempDir dir;
  const std::string out = dir.file("x.onnx");
  const std::vector<std::vector<std::string>> cases = {
      {"--format", "qdq"},   {"--learnable-scales"},
      {"--exclude", "Gemm"}, {"--freeze-observers", "1"},
      {"--freeze-bn", "1"},  {"--weight-observer", "mse"},
      {"--target", "vnni"},  {"--parity-arithmetic", "exact"}};
  for (const auto& extra : cases) {
    std::vector<std::string> args{
        "train", model_file("cnn"), "--dataset", "fashion-mnist", "--limit", "64", "--out", out};
    args.insert(args.end(), extra.begin(), extra.end());
    EXPECT_EQ(run_tamp(args).code, 2) << extra.front();
  }
  for (const char* bad : {"soon", "-3"}) {
    EXPECT_EQ(run_tamp({"train", model_file("cnn"), "--dataset", "fashion-mnist", "--limit", "64",
                        "--qat", "--freeze-bn", bad, "--out", out})
                  .code,
              2)
        << bad;
  }
  const CliResult none =
      run_tamp({"train", model_file("cnn"), "--dataset", "fashion-mnist", "--limit", "64", "--qat",
                "--exclude", "Conv", "Gemm", "--out", out});
  EXPECT_EQ(none.code, 3) << none.err;
  EXPECT_NE(none.err.find("no quantizable op"), std::string::npos) << none.err;
}

}  // namespace
}  // namespace tamp::test
