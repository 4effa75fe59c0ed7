// Weight-only quantization (RTN, GPTQ) exported as MatMulNBits: ONNX Runtime runs the exports,
// tamp's own evaluation and its dequantize-then-MatMul simulation agree with it, and GPTQ
// reconstructs the layers' outputs at least as well as RTN.
#include <tamp/compression/quantization/ptq/block_quant.h>
#include <tamp/compression/quantization/ptq/gptq.h>
#include <tamp/compression/quantization/ptq/linear_layers.h>
#include <tamp/compression/quantization/ptq/weight_only.h>

#include "compression/quantization/wonly_test_support.h"

#include <gtest/gtest.h>

namespace tamp::test::wonly {
namespace {

using compression::QuantSpec;
using compression::WeightOnlyAlgorithm;
using compression::WeightOnlyOptions;

// `layers` MatMulNBits, `gemms` Gemm left, and the file imports com.microsoft.
void expect_all_nbits(const nn::Graph& g, int layers, int gemms = 0) {
  int nbits = 0, gemm = 0;
  for (const auto& n : g.nodes) {
    gemm += n.op_type == "Gemm";
    nbits += n.op_type == "MatMulNBits";
  }
  EXPECT_EQ(gemm, gemms);
  EXPECT_EQ(nbits, layers);
  EXPECT_EQ(g.opset("com.microsoft"), 1);
}

// Sum over layers of ||W X - Ŵ X||² with the float model's inputs X: the measure GPTQ
// minimises, the same for both algorithms.
double total_reconstruction_error(const nn::Graph& float_graph, const nn::Graph& quantized,
                                  const std::vector<compression::CalibrationBatch>& calib,
                                  std::vector<double>* per_layer) {
  const auto layers = compression::find_linear_layers(float_graph);
  nn::GraphModule m(float_graph);
  m.eval();
  NoGradGuard no_grad;
  std::vector<compression::HessianAccumulator> h;
  std::vector<std::string> wanted;
  for (const auto& l : layers) {
    h.emplace_back(l.k());
    wanted.push_back(l.input);
  }
  for (const auto& batch : calib) {
    auto values = m.forward({{"input", Variable(batch.at("input"))}}, wanted);
    for (size_t i = 0; i < layers.size(); ++i) h[i].add(values.at(layers[i].input).value());
  }
  // The quantized weights, dequantized, by layer (the simulation keeps the node names).
  const nn::Graph sim = compression::dequantize_matmul_nbits(quantized);
  double total = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    const nn::Node* node = sim.find_node(layers[i].node);
    EXPECT_NE(node, nullptr) << layers[i].node;
    const Tensor w_hat = compression::to_output_major(sim.initializers.at(node->inputs[1]));
    const double e = compression::reconstruction_error(
        compression::to_output_major(layers[i].weight), w_hat, h[i].hessian());
    if (per_layer) per_layer->push_back(e);
    total += e;
  }
  return total;
}

TEST(WeightOnly, RtnInt4MlpRunsInOrtAndTampAgrees) {
  const nn::Graph g = load_model("mlp");
  const auto r =
      compression::quantize_weight_only(g, {}, {.weights = {.bits = 4, .group_size = 32}});
  expect_all_nbits(r.graph, 3);
  ASSERT_EQ(r.layers.size(), 3u);
  EXPECT_TRUE(std::isnan(r.layers[0].error));  // no calibration data: no error to report
  const Tensor x = flat_images(fashion_mnist().test->x(), 0, 64);
  TempDir dir;
  const Tensor ort = ort_output(r.graph, x, dir, "mlp_rtn4.onnx", dir.file("opt.onnx"));
  EXPECT_EQ(count_of(op_types(dir.file("opt.onnx")), "MatMulNBits"), 3);
  EXPECT_EQ(count_of(op_types(dir.file("opt.onnx")), "Gemm"), 0);
  const double tol = 1e-5 * std::max(1.0, max_abs(ort));
  EXPECT_LE(max_abs_diff(tamp_output(r.graph, x), ort), tol);
  EXPECT_LE(max_abs_diff(tamp_output(compression::dequantize_matmul_nbits(r.graph), x), ort), tol);
  const double err = relative_error(ort, tamp_output(g, x));
  std::cout << "[ info ] MLP int4 RTN group 32: logits relative error vs fp32 " << err << "\n";
  EXPECT_LT(err, 0.2);
}

TEST(WeightOnly, AsymmetricEightBitsWritesZeroPoints) {
  const nn::Graph g = load_model("mlp");
  const auto r = compression::quantize_weight_only(
      g, {}, {.weights = {.bits = 8, .symmetric = false, .group_size = 64}});
  int with_zp = 0;
  for (const auto& n : r.graph.nodes) {
    if (n.op_type == "MatMulNBits") {
      with_zp += n.inputs.size() == 4;
      EXPECT_EQ(n.attrs->i("bits"), 8);
      EXPECT_EQ(n.attrs->i("block_size"), 64);
    }
  }
  EXPECT_EQ(with_zp, 3);
  const Tensor x = flat_images(fashion_mnist().test->x(), 0, 32);
  TempDir dir;
  const Tensor ort = ort_output(r.graph, x, dir, "mlp_asym8.onnx");
  EXPECT_LE(max_abs_diff(tamp_output(r.graph, x), ort), 1e-5 * std::max(1.0, max_abs(ort)));
  EXPECT_LT(relative_error(ort, tamp_output(g, x)), 0.01);  // 8 bits: close to float
}

TEST(WeightOnly, GptqNoWorseThanRtnOnMlpReconstruction) {
  const nn::Graph& g = trained_mlp();
  const auto calib = mlp_calibration(8);
  for (int64_t group : {32, 128}) {
    const QuantSpec spec{.bits = 4, .group_size = group};
    const auto rtn = compression::quantize_weight_only(g, calib, {.weights = spec});
    // One pass over the float model: GPTQ minimises exactly the measured error.
    const auto gptq = compression::quantize_weight_only(
        g, calib, {.weights = spec, .algorithm = WeightOnlyAlgorithm::kGptq, .sequential = false});
    std::vector<double> e_rtn, e_gptq;
    const double t_rtn = total_reconstruction_error(g, rtn.graph, calib, &e_rtn);
    const double t_gptq = total_reconstruction_error(g, gptq.graph, calib, &e_gptq);
    // The same on held-out inputs: GPTQ fits the calibration set, the gain must carry over.
    std::vector<compression::CalibrationBatch> held_out;
    for (int i = 0; i < 8; ++i)
      held_out.push_back({{"input", flat_images(fashion_mnist().test->x(), 64 * i, 64 * (i + 1))}});
    const double h_rtn = total_reconstruction_error(g, rtn.graph, held_out, nullptr);
    const double h_gptq = total_reconstruction_error(g, gptq.graph, held_out, nullptr);
    std::cout << "[ info ] MLP int4 group " << group
              << ": total ||WX - ŴX||² on calibration data RTN " << t_rtn << ", GPTQ " << t_gptq
              << "; on held-out test images RTN " << h_rtn << ", GPTQ " << h_gptq << "\n";
    EXPECT_LT(h_gptq, h_rtn);
    for (size_t i = 0; i < e_rtn.size(); ++i) {
      std::cout << "[ info ] MLP int4 group " << group << " layer " << i << ": ||WX - ŴX||² RTN "
                << e_rtn[i] << ", GPTQ " << e_gptq[i] << " (relative "
                << gptq.layers[i].relative_error << ")\n";
      EXPECT_LE(e_gptq[i], e_rtn[i]) << "layer " << i;
      EXPECT_NEAR(gptq.layers[i].error, e_gptq[i],
                  1e-3 * e_gptq[i]);  // the report measures the same
    }
    EXPECT_LT(t_gptq, 0.9 * t_rtn);
  }
}

TEST(WeightOnly, GptqActOrderAndSequentialRunInOrt) {
  const nn::Graph& g = trained_mlp();
  const auto calib = mlp_calibration(4);
  const Tensor x = flat_images(fashion_mnist().test->x(), 0, 64);
  const Tensor ref = tamp_output(g, x);
  for (bool act_order : {false, true}) {
    const auto r = compression::quantize_weight_only(
        g, calib,
        {.weights = {.bits = 4, .symmetric = false, .group_size = 32},
         .algorithm = WeightOnlyAlgorithm::kGptq,
         .gptq = {.act_order = act_order}});
    TempDir dir;
    const Tensor ort = ort_output(r.graph, x, dir, "mlp_gptq.onnx");
    EXPECT_LE(max_abs_diff(tamp_output(compression::dequantize_matmul_nbits(r.graph), x), ort),
              1e-5 * std::max(1.0, max_abs(ort)));
    std::cout << "[ info ] MLP int4 asymmetric GPTQ (sequential, act_order " << act_order
              << "): logits relative error " << relative_error(ort, ref) << "\n";
    EXPECT_LT(relative_error(ort, ref), 0.15);
  }
}

TEST(WeightOnly, TransformerInt4RtnAndGptqInOrt) {
  const nn::Graph g = load_model("transformer");
  const Tensor x = transformer_input(8, 1);
  const Tensor ref = tamp_output(g, x);
  const auto calib = transformer_calibration(4);
  for (int64_t group : {32, 128}) {
    double errs[2];
    for (auto algorithm : {WeightOnlyAlgorithm::kRtn, WeightOnlyAlgorithm::kGptq}) {
      // embed has K = 16: a single block padded to the group size.
      const auto r = compression::quantize_weight_only(
          g, calib, {.weights = {.bits = 4, .group_size = group}, .algorithm = algorithm});
      expect_all_nbits(r.graph, 14);  // the two attention products per layer stay MatMul
      TempDir dir;
      const Tensor ort = ort_output(r.graph, x, dir, "transformer_w4.onnx", dir.file("opt.onnx"));
      EXPECT_EQ(count_of(op_types(dir.file("opt.onnx")), "MatMulNBits"), 14);
      EXPECT_LE(max_abs_diff(tamp_output(r.graph, x), ort), 1e-4 * std::max(1.0, max_abs(ort)));
      EXPECT_LE(max_abs_diff(tamp_output(compression::dequantize_matmul_nbits(r.graph), x), ort),
                1e-4 * std::max(1.0, max_abs(ort)));
      const int a = algorithm == WeightOnlyAlgorithm::kGptq;
      errs[a] = relative_error(ort, ref);
      std::cout << "[ info ] transformer int4 "
                << compression::weight_only_algorithm_name(algorithm) << " group " << group
                << ": output relative error vs fp32 " << errs[a] << "\n";
    }
    EXPECT_LT(errs[1], 0.25);
    EXPECT_LT(errs[0], 0.25);
  }
}

TEST(WeightOnly, AccuracyLevelFourRunsInOrtCloseToFloatPath) {
  // Level 4: ORT quantizes the activations to int8 per block; tamp evaluates in float32.
  const nn::Graph g = load_model("transformer");
  const Tensor x = transformer_input(4, 9);
  for (int bits : {4, 8}) {
    const auto r0 =
        compression::quantize_weight_only(g, {}, {.weights = {.bits = bits, .group_size = 32}});
    const auto r4 = compression::quantize_weight_only(
        g, {}, {.weights = {.bits = bits, .group_size = 32}, .accuracy_level = 4});
    for (const auto& n : r4.graph.nodes) {
      if (n.op_type == "MatMulNBits") EXPECT_EQ(n.attrs->i("accuracy_level"), 4);
    }
    TempDir dir;
    const Tensor y0 = ort_output(r0.graph, x, dir, "level0.onnx");
    const Tensor y4 = ort_output(r4.graph, x, dir, "level4.onnx");
    const double rel = relative_error(y4, y0);
    std::cout << "[ info ] transformer int" << bits
              << " accuracy_level 4 vs 0 in ORT: relative difference " << rel
              << "; tamp vs ORT at level 4 " << relative_error(tamp_output(r4.graph, x), y4)
              << "\n";
    EXPECT_GT(rel, 0.0);  // ORT really took the int8 path
    EXPECT_LT(rel, 0.03);
  }
  EXPECT_THROW(compression::quantize_weight_only(g, {}, {.accuracy_level = 5}), Error);
}

TEST(WeightOnly, ExcludedLayersStayFloat) {
  const nn::Graph g = load_model("mlp");
  const auto r = compression::quantize_weight_only(g, {}, {.exclude = {"/fc3/Gemm"}});
  expect_all_nbits(r.graph, 2, 1);
  EXPECT_NE(r.graph.find_node("/fc3/Gemm"), nullptr);
  EXPECT_THROW(compression::quantize_weight_only(g, {}, {.exclude = {"/fc9/Gemm"}}),
               Error);  // a typo
}

TEST(WeightOnly, BadInputsAreClearErrors) {
  const nn::Graph g = load_model("mlp");
  auto message = [&](const WeightOnlyOptions& o,
                     const std::vector<compression::CalibrationBatch>& calib = {}) {
    try {
      compression::quantize_weight_only(g, calib, o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({.weights = {.bits = 3}}).find("4 and 8 bits"), std::string::npos);
  EXPECT_NE(message({.weights = {.bits = 2}}).find("4 and 8 bits"), std::string::npos);
  EXPECT_NE(message({.weights = {.bits = 4, .group_size = 48}}).find("power of two"),
            std::string::npos);
  EXPECT_NE(message({.weights = {.bits = 4, .group_size = 8}}).find("power of two"),
            std::string::npos);
  EXPECT_NE(message({.algorithm = WeightOnlyAlgorithm::kGptq}).find("calibration set is empty"),
            std::string::npos);
  // Every layer excluded, or a model without MatMul/Gemm: nothing to quantize.
  EXPECT_NE(message({.exclude = {"Gemm"}}).find("no MatMul or Gemm"), std::string::npos);
  nn::Graph relu;
  relu.inputs.push_back({"x", DType::kFloat32, {nn::Dim::of(4)}});
  relu.nodes.push_back({"r", "Relu", "", {"x"}, {"y"}});
  relu.outputs.push_back({"y", DType::kFloat32, {nn::Dim::of(4)}});
  EXPECT_THROW(compression::quantize_weight_only(relu, {}, {}), Error);
  // A calibration batch that does not feed the model's input.
  EXPECT_THROW(compression::quantize_weight_only(g, {{{"wrong", Tensor::ones({2, 784})}}},
                                                 {.algorithm = WeightOnlyAlgorithm::kGptq}),
               Error);
}

TEST(WeightOnly, GroupSizeZeroMeansOneScalePerChannel) {
  // K = 784: ORT takes blocks of at most 256, so 4 blocks per row that repeat the row's scale.
  const auto r = compression::quantize_weight_only(load_model("mlp"), {},
                                                   {.weights = {.bits = 8, .group_size = 0}});
  const nn::Node* fc1 = r.graph.find_node("/fc1/Gemm");
  ASSERT_NE(fc1, nullptr);
  EXPECT_EQ(fc1->attrs->i("block_size"), 256);
  const Tensor& scales = r.graph.initializers.at(fc1->inputs[2]);
  ASSERT_EQ(scales.numel(), 512 * 4);
  for (int64_t row = 0; row < 512; ++row) {
    for (int blk = 1; blk < 4; ++blk)
      ASSERT_EQ(scales.at(row * 4 + blk), scales.at(row * 4)) << row;
  }
  // fc3 (K = 256): one block per row.
  EXPECT_EQ(r.graph.find_node("/fc3/Gemm")->attrs->i("block_size"), 256);
  const Tensor x = flat_images(fashion_mnist().test->x(), 0, 16);
  TempDir dir;
  const Tensor ort = ort_output(r.graph, x, dir, "mlp_w8_channel.onnx");
  EXPECT_LE(max_abs_diff(tamp_output(r.graph, x), ort), 1e-5 * std::max(1.0, max_abs(ort)));
}

TEST(Gptq, RecoversExactlyRepresentableWeights) {
  // Weights already on the quantization grid are kept exactly, whatever H is.
  Generator rng(3);
  Tensor w = Tensor::empty({4, 32});
  for (int64_t i = 0; i < w.numel(); ++i)
    w.data<float>()[i] = static_cast<float>(static_cast<int>(rng.uniform() * 15) - 7) * 0.1f;
  for (int r = 0; r < 4; ++r) w.data<float>()[r * 32] = 0.7f;  // max |w| = 7 steps in every row
  compression::HessianAccumulator h(32);
  Tensor x = Tensor::empty({64, 32});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = rng.normal();
  h.add(x);
  const auto q = compression::gptq_quantize(w, h.hessian(), {.bits = 4, .group_size = 32});
  EXPECT_LE(max_abs_diff(compression::dequantize(q), w), 1e-6);
}

}  // namespace
}  // namespace tamp::test::wonly

namespace tamp::test::wonly {
namespace {

// Fashion-MNIST test accuracy of the MLP (trained 300 steps) in ONNX Runtime: fp32 against
// int4 RTN and GPTQ with one scale per output channel (group 0) and groups of 32 and 128.
TEST(SlowWeightOnly, MlpFashionMnistAccuracyInOrt) {
  const nn::Graph& g = trained_mlp();
  const Tensor x = flat_images(fashion_mnist().test->x(), 0, 10000);
  const Tensor& labels = fashion_mnist().test->y();
  TempDir dir;
  const double fp32 = accuracy(ort_output(g, x, dir, "mlp_fp32.onnx"), labels);
  std::cout << "[ info ] MLP fp32 accuracy " << 100 * fp32 << " %\n";
  const auto calib = mlp_calibration(16);
  for (int64_t group : {0, 32, 128}) {
    double acc[2];
    for (auto algorithm : {WeightOnlyAlgorithm::kRtn, WeightOnlyAlgorithm::kGptq}) {
      const auto r = compression::quantize_weight_only(
          g, calib, {.weights = {.bits = 4, .group_size = group}, .algorithm = algorithm});
      const int a = algorithm == WeightOnlyAlgorithm::kGptq;
      acc[a] = accuracy(ort_output(r.graph, x, dir, "mlp_w4.onnx"), labels);
      std::cout << "[ info ] MLP int4 " << compression::weight_only_algorithm_name(algorithm)
                << " group " << group << " accuracy " << 100 * acc[a] << " % (fp32 " << 100 * fp32
                << " %)\n";
    }
    EXPECT_GT(acc[0], fp32 - 0.03);
    EXPECT_GT(acc[1], fp32 - 0.02);
    EXPECT_GE(acc[1], acc[0] - 0.005);  // GPTQ no worse than RTN (within test-set noise)
  }
}

}  // namespace
}  // namespace tamp::test::wonly
