// Dynamic PTQ: the exports run in ONNX Runtime, which fuses every quantized layer into
// DynamicQuantizeMatMul (no float MatMul/Gemm left on them), and tamp's evaluation of the
// exported graph (DynamicQuantizeLinear, MatMulInteger, Cast, Mul, Add) equals ORT's: on every
// CPU for the portable target (uint8 weights), and with this CPU's integer arithmetic for the
// vnni target (int8 weights, whose pair sums ORT saturates on x86 without VNNI).
#include <tamp/compression/quantization/ptq/dynamic_quantization.h>

#include "compression/quantization/wonly_test_support.h"
#include "support/host_cpu.h"

#include <gtest/gtest.h>

#include <set>

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

// The dtypes of the MatMulInteger weights (input 1).
std::set<DType> weight_dtypes(const nn::Graph& q) {
  std::set<DType> out;
  for (const auto& n : q.nodes)
    if (n.op_type == "MatMulInteger") out.insert(q.initializers.at(n.inputs[1]).dtype());
  return out;
}

// The graph's output in tamp with the given integer arithmetic.
Tensor tamp_output_with(const nn::Graph& g, const Tensor& x, IntegerArithmetic a) {
  nn::GraphModule m(g);
  m.set_integer_arithmetic(a);
  m.eval();
  NoGradGuard no_grad;
  return m.forward({{g.inputs.at(0).name, Variable(x)}}).at(g.outputs.at(0).name).value();
}

TEST(DynamicQuantization, MlpFusesInOrtAndTampAgrees) {
  const nn::Graph g = load_model("mlp");
  for (bool per_channel : {true, false}) {
    DynamicQuantOptions o;
    o.weights.per_channel = per_channel;
    const nn::Graph q = compression::quantize_dynamic(g, o);
    EXPECT_EQ(weight_dtypes(q), std::set<DType>{DType::kUInt8});  // the portable target
    EXPECT_EQ(q.metadata.at("tamp.quantization_target"), "portable");
    const Tensor x = flat_images(fashion_mnist().test->x(), 0, 64);
    TempDir dir;
    const Tensor ort = ort_output(q, x, dir, "mlp_dyn.onnx", dir.file("opt.onnx"));
    const Fused f = fusion_of(dir.file("opt.onnx"));
    EXPECT_EQ(f.dynamic_matmuls, 3) << all_ops(dir.file("opt.onnx"));
    EXPECT_EQ(f.float_matmuls + f.gemms, 0) << all_ops(dir.file("opt.onnx"));
    const Tensor mine = tamp_output(q, x);
    EXPECT_LE(max_abs_diff(mine, ort), 1e-5 * std::max(1.0, max_abs(ort)))
        << "per_channel " << per_channel;
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
  std::cout << "[ info ] transformer dynamic int8 per-channel: output relative error vs fp32 "
            << err << ", tamp vs ORT max |diff| " << max_abs_diff(mine, ort) << "\n";
  EXPECT_LT(err, 0.05);
}

// int8 weights (vnni target) on this CPU: tamp with this CPU's arithmetic is ORT; exact
// arithmetic is ORT only where uint8 x int8 is exact (on x86 without VNNI the MLP's 784-long
// rows of bright pixels times large weights saturate).
TEST(DynamicQuantization, VnniTargetIsWhatTampSaysOrtComputesHere) {
  const nn::Graph q = compression::quantize_dynamic(load_model("mlp"),
                                                    {.target = compression::ExportTarget::kVnni});
  EXPECT_EQ(weight_dtypes(q), std::set<DType>{DType::kInt8});
  EXPECT_EQ(q.metadata.at("tamp.quantization_target"), "vnni");
  const Tensor x = flat_images(fashion_mnist().test->x(), 0, 64);
  TempDir dir;
  const Tensor ort = ort_output(q, x, dir, "mlp_vnni.onnx");
  const double tol = 1e-5 * std::max(1.0, max_abs(ort));
  EXPECT_LE(max_abs_diff(tamp_output_with(q, x, host_integer_arithmetic()), ort), tol)
      << host_integer_features();
  const double exact = max_abs_diff(tamp_output_with(q, x, IntegerArithmetic::kExact), ort);
  std::cout << "[ info ] MLP dynamic, vnni target on " << host_integer_features()
            << ": ORT vs tamp exact max |diff| " << exact << "\n";
  if (host_saturates_int16_pairs())
    EXPECT_GT(exact, 100 * tol);
  else
    EXPECT_LE(exact, tol);
}

TEST(DynamicQuantization, VnniTargetAgreesWithOrtOnVnniCpus) {
  if (const std::string why = skip_unless_uint8_int8_exact(); !why.empty()) GTEST_SKIP() << why;
  const nn::Graph q = compression::quantize_dynamic(load_model("transformer"),
                                                    {.target = compression::ExportTarget::kVnni});
  const Tensor x = transformer_input(8, 2);
  TempDir dir;
  const Tensor ort = ort_output(q, x, dir, "transformer_vnni.onnx");
  EXPECT_LE(max_abs_diff(tamp_output(q, x), ort), 1e-4 * std::max(1.0, max_abs(ort)));
}

// torch's training-mode export (cnn_bn_train: Dropout with a constant training_mode = true,
// BatchNormalization with its five training outputs) becomes an inference model: ORT no
// longer drops at random nor normalises with batch statistics, so two ORT runs agree and tamp
// agrees with them.
TEST(DynamicQuantization, TrainingModeExportBecomesAnInferenceModel) {
  const nn::Graph q = compression::quantize_dynamic(load_model("cnn_bn_train"));
  int dropouts = 0, batch_norms = 0;
  for (const auto& n : q.nodes) {
    if (n.op_type == "Dropout") {
      ++dropouts;
      EXPECT_LE(n.inputs.size(), 2u) << n.name;
    }
    if (n.op_type == "BatchNormalization") {
      ++batch_norms;
      EXPECT_EQ(n.outputs.size(), 1u) << n.name;
    }
  }
  EXPECT_EQ(dropouts, 1);
  EXPECT_EQ(batch_norms, 2);
  const Tensor x = flat_images(fashion_mnist().test->x(), 0, 32).reshape({32, 1, 28, 28});
  TempDir dir;
  const Tensor first = ort_output(q, x, dir, "cnn_bn_dyn.onnx"),
               second = ort_output(q, x, dir, "cnn_bn_dyn2.onnx");
  EXPECT_EQ(max_abs_diff(first, second), 0.0);
  EXPECT_LE(max_abs_diff(tamp_output(q, x), first), 2e-3 * std::max(1.0, max_abs(first)));
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
  const double int8 =
      accuracy(ort_output(compression::quantize_dynamic(g), x, dir, "mlp_dyn.onnx"), labels);
  std::cout << "[ info ] MLP Fashion-MNIST accuracy: fp32 " << 100 * fp32 << " %, dynamic int8 "
            << 100 * int8 << " %\n";
  EXPECT_GT(int8, fp32 - 0.005);
}

}  // namespace
}  // namespace tamp::test::wonly
