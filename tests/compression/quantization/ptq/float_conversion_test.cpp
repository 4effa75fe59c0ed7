// fp16 / bf16 conversion: the converted test models run in ONNX Runtime within 1e-2 of fp32
// (bf16: error reported), and the default block list matches what ORT 1.30's CPU provider
// has kernels for.
#include <tamp/compression/quantization/ptq/float_conversion.h>

#include "compression/quantization/wonly_test_support.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace tamp::test::wonly {
namespace {

using compression::FloatConversionOptions;

Tensor model_input(const std::string& model, int64_t n) {
  if (model == "transformer") return transformer_input(n, 3);
  const Tensor& x = fashion_mnist().test->x();
  if (model == "mlp") return flat_images(x, 0, n);
  Tensor out = Tensor::empty({n, 1, 28, 28});
  std::copy(x.data<float>(), x.data<float>() + out.numel(), out.data<float>());
  return out;
}

int count_casts(const nn::Graph& g) {
  int c = 0;
  for (const auto& n : g.nodes) c += n.op_type == "Cast";
  return c;
}

class Fp16Models : public ::testing::TestWithParam<std::string> {};

TEST_P(Fp16Models, RunInOrtWithinOneHundredthOfFp32) {
  const std::string name = GetParam();
  const nn::Graph g = load_model(name);
  const Tensor x = model_input(name, 16);
  TempDir dir;
  const Tensor fp32 = ort_output(g, x, dir, "fp32.onnx");
  for (bool keep_io : {true, false}) {
    for (bool default_list : {true, false}) {
      const nn::Graph h = compression::convert_float(
          g, {.to = DType::kFloat16, .keep_io_types = keep_io, .default_block_list = default_list});
      EXPECT_EQ(h.inputs[0].dtype, keep_io ? DType::kFloat32 : DType::kFloat16);
      EXPECT_EQ(h.outputs[0].dtype, keep_io ? DType::kFloat32 : DType::kFloat16);
      for (const auto& [init, t] : h.initializers) EXPECT_NE(t.dtype(), DType::kFloat32) << init;
      const Tensor y =
          ort_output(h, keep_io ? x : x.to(DType::kFloat16), dir, "fp16.onnx").to(DType::kFloat32);
      const double diff = max_abs_diff(y, fp32);
      std::cout << "[ info ] " << name << " fp16 (keep_io_types " << keep_io
                << ", default block list " << default_list << ", " << count_casts(h)
                << " Casts): max |y - y_fp32| " << diff << " (max |y_fp32| " << max_abs(fp32)
                << ")\n";
      EXPECT_LE(diff, 1e-2);
      if (keep_io && default_list) {
        const auto bytes = std::filesystem::file_size(dir.file("fp16.onnx"));
        const auto full = std::filesystem::file_size(dir.file("fp32.onnx"));
        EXPECT_LT(static_cast<double>(bytes), 0.55 * static_cast<double>(full));
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(TestModels, Fp16Models,
                         ::testing::Values("mlp", "cnn", "cnn_bn", "transformer"));

TEST(Bf16Conversion, RunsInOrtWithReportedError) {
  for (const std::string name : {"mlp", "cnn", "transformer"}) {
    const nn::Graph g = load_model(name);
    const Tensor x = model_input(name, 16);
    TempDir dir;
    const Tensor fp32 = ort_output(g, x, dir, "fp32.onnx");
    // onnxruntime-node cannot feed bfloat16 tensors: bf16 models keep float32 I/O here.
    const nn::Graph b =
        compression::convert_float(g, {.to = DType::kBFloat16, .keep_io_types = true});
    const Tensor y = ort_output(b, x, dir, "bf16.onnx");
    const double diff = max_abs_diff(y, fp32), rel = relative_error(y, fp32);
    std::cout << "[ info ] " << name << " bf16: max |y - y_fp32| " << diff << ", relative " << rel
              << " (max |y_fp32| " << max_abs(fp32) << ")\n";
    EXPECT_LT(rel, 0.05);
  }
}

// A single-op model in `to`: input [2, 3, 4, 5] (and a second operand for binary ops).
nn::Graph single_op(const std::string& op, DType to) {
  nn::Graph g;
  g.opsets[""] = 17;  // LayerNormalization
  const std::vector<nn::Dim> shape{nn::Dim::of(2), nn::Dim::of(3), nn::Dim::of(4), nn::Dim::of(5)};
  g.inputs.push_back({"x", DType::kFloat32, shape});
  std::vector<std::string> inputs{"x"};
  if (op == "Add" || op == "Mul") inputs.push_back("x");
  if (op == "MatMul") {
    g.initializers["w"] = Tensor::ones({5, 5});
    inputs.push_back("w");
  }
  if (op == "LayerNormalization") {
    g.initializers["s"] = Tensor::ones({5});
    inputs.push_back("s");
  }
  Attributes a;
  if (op == "Transpose") a.set("perm", std::vector<int64_t>{0, 2, 1, 3});
  g.nodes.push_back({"op", op, "", inputs, {"y"}, nn::attrs_with(a)});
  std::vector<nn::Dim> out = shape;
  if (op == "Transpose") std::swap(out[1], out[2]);
  g.outputs.push_back({"y", DType::kFloat32, out});
  g.validate();
  // Everything in `to`, no block list, float32 I/O: the Casts at the boundary are the only ones.
  return compression::convert_float(g,
                                    {.to = to, .keep_io_types = true, .default_block_list = false});
}

TEST(FloatConversion, DefaultBlockListMatchesOrtCpuKernels) {
  const Tensor x = Tensor::full({2, 3, 4, 5}, 0.5);
  for (const std::string op :
       {"Add", "Mul", "MatMul", "Relu", "Softmax", "LayerNormalization", "Transpose"}) {
    const bool kernel = compression::ort_cpu_has_kernel(op, DType::kFloat16);
    // fp16: ORT inserts Casts to float32 around an op it has no fp16 kernel for.
    const nn::Graph h = single_op(op, DType::kFloat16);
    TempDir dir;
    ort_output(h, x, dir, "op.onnx", dir.file("opt.onnx"));
    nn::Graph opt = io::load_onnx_graph(dir.file("opt.onnx"), {.fold_constants = false});
    const int inserted = count_casts(opt) - count_casts(h);
    EXPECT_EQ(inserted == 0, kernel) << op << " float16: ORT inserted " << inserted << " Casts";
    // bf16: ORT inserts nothing and refuses the model when the op has no kernel.
    const nn::Graph b = single_op(op, DType::kBFloat16);
    bool runs = true;
    try {
      ort_output(b, x, dir, "op_bf16.onnx");
    } catch (const Error&) {
      runs = false;
    }
    EXPECT_EQ(runs, compression::ort_cpu_has_kernel(op, DType::kBFloat16)) << op << " bfloat16";
  }
}

TEST(FloatConversion, BlockedOpsReadFloat32ThroughCasts) {
  const nn::Graph g = load_model("mlp");
  const nn::Graph h = compression::convert_float(g, {.to = DType::kFloat16, .keep_io_types = true});
  EXPECT_EQ(compression::default_blocked_ops(g, DType::kFloat16),
            std::vector<std::string>({"Gemm", "Relu"}));
  // Gemm and Relu have no fp16 CPU kernel: they stay float32, the weights are stored in fp16
  // and cast back, and no Cast sits between two float32 ops.
  for (const auto& n : h.nodes) {
    if (n.op_type != "Gemm") continue;
    for (size_t i = 1; i < n.inputs.size(); ++i) {
      const int p = h.producer(n.inputs[i]);
      ASSERT_GE(p, 0) << n.inputs[i];
      EXPECT_EQ(h.nodes[p].op_type, "Cast");
    }
    EXPECT_EQ(h.producer(n.inputs[0]) >= 0 ? h.nodes[h.producer(n.inputs[0])].op_type : "input",
              n.name == "/fc1/Gemm" ? "input" : "Relu");
  }
  // Blocking by node name and by op type.
  const nn::Graph all =
      compression::convert_float(g, {.default_block_list = false, .block_nodes = {"/fc3/Gemm"}});
  for (const auto& n : all.nodes) {
    if (n.op_type == "Gemm" && n.name != "/fc3/Gemm")
      EXPECT_NE(all.producer(n.inputs[1]) >= 0 ? all.nodes[all.producer(n.inputs[1])].op_type : "",
                "Cast");
  }
}

TEST(FloatConversion, BadInputsAreClearErrors) {
  const nn::Graph g = load_model("mlp");
  EXPECT_THROW(compression::convert_float(g, {.to = DType::kFloat32}), Error);
  EXPECT_THROW(compression::convert_float(g, {.to = DType::kInt8}), Error);
  EXPECT_THROW(compression::convert_float(g, {.block_nodes = {"/fc9/Gemm"}}), Error);
  const nn::Graph h = compression::convert_float(g);
  EXPECT_THROW(compression::convert_float(h), Error);  // nothing float32 left
}

}  // namespace
}  // namespace tamp::test::wonly
