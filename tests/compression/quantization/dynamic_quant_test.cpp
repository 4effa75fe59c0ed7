// Dynamic PTQ: the exports run in ONNX Runtime, which fuses every quantized layer into
// DynamicQuantizeMatMul (no float MatMul/Gemm left on them), and tamp's evaluation of the
// exported graph (DynamicQuantizeLinear, MatMulInteger, Cast, Mul, Add) equals ORT's.
#include <tamp/compression/quantization/dynamic_quantization.h>

#include "compression/quantization/wonly_test_support.h"

#include <gtest/gtest.h>

namespace tamp::test::wonly {
namespace {

using compression::DynamicQuantOptions;

struct Fused {
  int dynamic_matmuls = 0;  // DynamicQuantizeMatMul (quantizes its own input)
  int integer_matmuls = 0;  // MatMulIntegerToFloat (after a shared DynamicQuantizeLinear)
  int float_matmuls = 0, gemms = 0;
};

Fused fusion_of(const std::string& optimized) {
  const auto ops = op_types(optimized);
  return {count_of(ops, "DynamicQuantizeMatMul"), count_of(ops, "MatMulIntegerToFloat"),
          count_of(ops, "MatMul") + count_of(ops, "FusedMatMul"), count_of(ops, "Gemm")};
}

std::string all_ops(const std::string& path) {
  std::string all;
  for (const auto& op : op_types(path)) all += op + " ";
  return all;
}

TEST(DynamicQuantization, MlpFusesInOrtAndTampAgrees) {
  const nn::Graph g = load_model("mlp");
  for (bool per_channel : {true, false}) {
    DynamicQuantOptions o;
    o.weights.per_channel = per_channel;
    const nn::Graph q = compression::quantize_dynamic(g, o);
    const Tensor x = flat_images(fashion_mnist().test->x(), 0, 64);
    TempDir dir;
    const Tensor ort = ort_output(q, x, dir, "mlp_dyn.onnx", dir.file("opt.onnx"));
    const Fused f = fusion_of(dir.file("opt.onnx"));
    EXPECT_EQ(f.dynamic_matmuls, 3) << all_ops(dir.file("opt.onnx"));
    EXPECT_EQ(f.float_matmuls + f.gemms, 0) << all_ops(dir.file("opt.onnx"));
    const Tensor mine = tamp_output(q, x);
    EXPECT_LE(max_abs_diff(mine, ort), 1e-5 * std::max(1.0, max_abs(ort))) << "per_channel " << per_channel;
    const double err = relative_error(ort, tamp_output(g, x));
    std::cout << "[ info ] MLP dynamic int8 (" << (per_channel ? "per-channel" : "per-tensor")
              << "): logits relative error vs fp32 " << err << "\n";
    EXPECT_LT(err, 0.05);
  }
}

TEST(DynamicQuantization, TransformerFusesInOrtAndTampAgrees) {
  const nn::Graph g = load_model("transformer");
  const nn::Graph q = compression::quantize_dynamic(g);
  int dql = 0;
  for (const auto& n : q.nodes) dql += n.op_type == "DynamicQuantizeLinear";
  EXPECT_EQ(dql, 10);  // one per input value: q, k and v share theirs
  const Tensor x = transformer_input(8, 2);
  TempDir dir;
  const Tensor ort = ort_output(q, x, dir, "transformer_dyn.onnx", dir.file("opt.onnx"));
  const Fused f = fusion_of(dir.file("opt.onnx"));
  EXPECT_EQ(f.dynamic_matmuls, 8) << all_ops(dir.file("opt.onnx"));
  EXPECT_EQ(f.integer_matmuls, 6) << all_ops(dir.file("opt.onnx"));  // q, k, v of both layers
  // What stays float: the attention products (activation x activation), two per layer.
  EXPECT_EQ(f.float_matmuls + f.gemms, 4) << all_ops(dir.file("opt.onnx"));
  const Tensor mine = tamp_output(q, x);
  EXPECT_LE(max_abs_diff(mine, ort), 1e-4 * std::max(1.0, max_abs(ort)));
  const double err = relative_error(ort, tamp_output(g, x));
  std::cout << "[ info ] transformer dynamic int8 per-channel: output relative error vs fp32 " << err
            << ", tamp vs ORT max |diff| " << max_abs_diff(mine, ort) << "\n";
  EXPECT_LT(err, 0.05);
}

TEST(DynamicQuantization, AsymmetricWeightsCarryZeroPoints) {
  DynamicQuantOptions o;
  o.weights.symmetric = false;
  o.weights.is_signed = false;  // uint8 weights, per-column zero points
  const nn::Graph q = compression::quantize_dynamic(load_model("mlp"), o);
  int with_zp = 0;
  for (const auto& n : q.nodes) with_zp += n.op_type == "MatMulInteger" && n.inputs.size() == 4;
  EXPECT_EQ(with_zp, 3);
  const Tensor x = flat_images(fashion_mnist().test->x(), 0, 16);
  TempDir dir;
  const Tensor ort = ort_output(q, x, dir, "mlp_dyn_u8.onnx");
  EXPECT_LE(max_abs_diff(tamp_output(q, x), ort), 1e-5 * std::max(1.0, max_abs(ort)));
}

TEST(DynamicQuantization, BadInputsAreClearErrors) {
  const nn::Graph g = load_model("mlp");
  DynamicQuantOptions o;
  o.weights.bits = 4;
  EXPECT_THROW(compression::quantize_dynamic(g, o), Error);
  o.weights.bits = 8;
  o.weights.group_size = 32;
  EXPECT_THROW(compression::quantize_dynamic(g, o), Error);
  EXPECT_THROW(compression::quantize_dynamic(g, {.exclude = {"Gemm"}}), Error);
  nn::Graph relu;
  relu.inputs.push_back({"x", DType::kFloat32, {nn::Dim::of(4)}});
  relu.nodes.push_back({"r", "Relu", "", {"x"}, {"y"}});
  relu.outputs.push_back({"y", DType::kFloat32, {nn::Dim::of(4)}});
  try {
    compression::quantize_dynamic(relu);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no MatMul or Gemm"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Relu"), std::string::npos) << e.what();
  }
}

// Fashion-MNIST accuracy of the trained MLP, fp32 against dynamic int8, both in ORT.
TEST(SlowDynamicQuantization, MlpFashionMnistAccuracyInOrt) {
  const nn::Graph& g = trained_mlp();
  const Tensor x = flat_images(fashion_mnist().test->x(), 0, 10000);
  const Tensor& labels = fashion_mnist().test->y();
  TempDir dir;
  const double fp32 = accuracy(ort_output(g, x, dir, "mlp_fp32.onnx"), labels);
  const double int8 = accuracy(ort_output(compression::quantize_dynamic(g), x, dir, "mlp_dyn.onnx"), labels);
  std::cout << "[ info ] MLP Fashion-MNIST accuracy: fp32 " << 100 * fp32 << " %, dynamic int8 " << 100 * int8 << " %\n";
  EXPECT_GT(int8, fp32 - 0.005);
}

}  // namespace
}  // namespace tamp::test::wonly
