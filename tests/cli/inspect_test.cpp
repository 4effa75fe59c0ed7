// `tamp inspect`: text and JSON against what the graph holds, on the test models and on
// models built here (sparse weights, quantization nodes, an op tamp lacks).
#include "tamp_runner.h"

#include "support/ort_runner.h"
#include "support/test_data.h"

#include <tamp/io/onnx_export.h>
#include <tamp/io/onnx_import.h>
#include <tamp/io/tensor_proto.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace tamp::test {
namespace {

nlohmann::json inspect_json(const std::string& path) {
  const CliResult r = run_tamp({"inspect", path, "--json"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  return nlohmann::json::parse(r.out);
}

class InspectModels : public ::testing::TestWithParam<std::string> {};

TEST_P(InspectModels, JsonCountsMatchTheGraph) {
  const std::string path = model_file(GetParam());
  const nn::Graph g = io::load_onnx_graph(path, {.fold_constants = false});
  const nlohmann::json j = inspect_json(path);

  EXPECT_EQ(j.at("format_version"), 1);
  EXPECT_EQ(j.at("model"), path);
  EXPECT_EQ(j.at("opsets").at("ai.onnx"), g.opset(""));
  EXPECT_EQ(j.at("producer").at("name"), "pytorch");
  ASSERT_EQ(j.at("inputs").size(), 1u);
  EXPECT_EQ(j.at("inputs")[0].at("name"), "input");
  EXPECT_EQ(j.at("inputs")[0].at("dtype"), "float32");
  EXPECT_EQ(j.at("inputs")[0].at("shape")[0], "batch");  // symbolic dims are strings
  ASSERT_EQ(j.at("inputs")[0].at("shape").size(), g.inputs[0].shape.size());
  for (size_t i = 1; i < g.inputs[0].shape.size(); ++i) {
    EXPECT_EQ(j.at("inputs")[0].at("shape")[i], g.inputs[0].shape[i].value);
  }
  EXPECT_EQ(j.at("outputs")[0].at("name"), "logits");

  // Op histogram: every node counted once, under its op type.
  EXPECT_EQ(j.at("nodes"), g.nodes.size());
  std::map<std::string, int64_t> ops;
  for (const auto& n : g.nodes) ++ops[n.op_type];
  EXPECT_EQ(j.at("ops").get<decltype(ops)>(), ops);

  // Parameters: every initializer but int64 constants; trainable: what GraphModule trains.
  int64_t count = 0, tensors = 0, weights = 0;
  uint64_t bytes = 0;
  for (const auto& [name, t] : g.initializers) {
    if (t.dtype() == DType::kInt64) continue;
    count += t.numel();
    bytes += t.nbytes();
    ++tensors;
    weights += t.rank() >= 2;
  }
  EXPECT_EQ(j.at("parameters").at("count"), count);
  EXPECT_EQ(j.at("parameters").at("bytes"), bytes);
  EXPECT_EQ(j.at("parameters").at("tensors"), tensors);
  EXPECT_EQ(j.at("parameters").at("by_dtype").at("float32").at("count"), count);
  int64_t trainable = 0;
  for (const auto& [name, p] : io::load_onnx(path).named_parameters())
    trainable += p.value().numel();
  EXPECT_EQ(j.at("parameters").at("trainable"), trainable);

  ASSERT_EQ(j.at("weights").size(), static_cast<size_t>(weights));
  for (const auto& w : j.at("weights")) {
    const Tensor& t = g.initializers.at(w.at("name").get<std::string>());
    EXPECT_EQ(w.at("shape").get<Shape>(), t.shape());
    EXPECT_EQ(w.at("count"), t.numel());
    EXPECT_EQ(w.at("zeros"), 0) << "torch's random init has no exact zeros";
    EXPECT_EQ(w.at("sparsity"), 0.0);
    EXPECT_FALSE(w.at("consumers").empty());
  }
  EXPECT_TRUE(j.at("quantization").empty());
  EXPECT_TRUE(j.at("unsupported_ops").empty());
  EXPECT_EQ(j.at("runnable"), true);
}

INSTANTIATE_TEST_SUITE_P(TestModels, InspectModels,
                         ::testing::Values("mlp", "cnn", "cnn_bn", "cnn_bn_train", "cnn_wide",
                                           "transformer"));

TEST(Inspect, ParameterCountsOfTheReferenceModels) {
  // 784*512+512 + 512*256+256 + 256*10+10, and the CNN's conv 32 / conv 64 / fc 128 / fc 10.
  EXPECT_EQ(inspect_json(model_file("mlp")).at("parameters").at("count"), 535818);
  EXPECT_EQ(inspect_json(model_file("cnn")).at("parameters").at("count"),
            32 * 9 + 32 + 64 * 32 * 9 + 64 + 1600 * 128 + 128 + 128 * 10 + 10);
}

TEST(Inspect, TextShowsShapesOpsAndNoUnsupportedOps) {
  const CliResult r = run_tamp({"inspect", model_file("cnn")});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("input  float32 [batch, 1, 28, 28]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("logits  float32 [batch, 10]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Conv 2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Gemm 2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("225,034 in 8 tensors"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("conv1.weight"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("quantization none"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("unsupported  none"), std::string::npos) << r.out;
}

TEST(Inspect, SparsityCountsExactZerosPerWeight) {
  nn::Graph g = io::load_onnx_graph(model_file("mlp"));
  Tensor w = g.initializers.at("fc1.weight").clone();                 // [512, 784]
  for (int64_t i = 0; i < w.numel(); i += 4) w.data<float>()[i] = 0;  // 25 %
  for (int64_t i = 1; i < 784; i += 2) w.data<float>()[i] = 0;        // + 392 more in row 0
  g.initializers["fc1.weight"] = w;
  TempDir dir;
  io::save_onnx_graph(g, dir.file("sparse.onnx"));
  const nlohmann::json j = inspect_json(dir.file("sparse.onnx"));
  for (const auto& entry : j.at("weights")) {
    if (entry.at("name") != "fc1.weight") {
      EXPECT_EQ(entry.at("zeros"), 0);
      continue;
    }
    EXPECT_EQ(entry.at("zeros"), 512 * 784 / 4 + 392);
    EXPECT_DOUBLE_EQ(entry.at("sparsity").get<double>(), (512.0 * 784 / 4 + 392) / (512.0 * 784));
  }
  const CliResult text = run_tamp({"inspect", dir.file("sparse.onnx")});
  EXPECT_NE(text.out.find("25.10 %"), std::string::npos) << text.out;
}

// x -> QuantizeLinear (uint8, per tensor) -> DequantizeLinear -> MatMul with a weight
// dequantized per channel (int8, axis 1), and a 4-bit MatMulNBits (com.microsoft).
nn::Graph quantized_graph() {
  nn::Graph g;
  g.opsets = {{"", 13}, {"com.microsoft", 1}};
  g.inputs.push_back({"x", DType::kFloat32, {nn::Dim::symbolic("n"), nn::Dim::of(32)}});
  g.initializers["x_scale"] = Tensor::scalar(0.05f);
  g.initializers["x_zp"] = Tensor::scalar(128, DType::kUInt8);
  g.initializers["w_q"] = Tensor::full({32, 16}, 3, DType::kInt8);
  g.initializers["w_scale"] = Tensor::full({16}, 0.01f);
  g.initializers["w_zp"] = Tensor::zeros({16}, DType::kInt8);
  g.initializers["b_packed"] =
      Tensor::full({8, 1, 16}, 0x88, DType::kUInt8);  // N 8, K 32, block 32
  g.initializers["b_scales"] = Tensor::full({8}, 0.1f);
  g.nodes.push_back({"q_x", "QuantizeLinear", "", {"x", "x_scale", "x_zp"}, {"xq"}});
  g.nodes.push_back({"dq_x", "DequantizeLinear", "", {"xq", "x_scale", "x_zp"}, {"xd"}});
  g.nodes.push_back({"dq_w",
                     "DequantizeLinear",
                     "",
                     {"w_q", "w_scale", "w_zp"},
                     {"wd"},
                     nn::attrs_with({{"axis", int64_t{1}}})});
  g.nodes.push_back({"mm", "MatMul", "", {"xd", "wd"}, {"y"}});
  g.nodes.push_back({"mm4",
                     "MatMulNBits",
                     "com.microsoft",
                     {"x", "b_packed", "b_scales"},
                     {"z"},
                     nn::attrs_with({{"K", int64_t{32}},
                                     {"N", int64_t{8}},
                                     {"bits", int64_t{4}},
                                     {"block_size", int64_t{32}}})});
  g.outputs.push_back({"y", DType::kFloat32, {nn::Dim::symbolic("n"), nn::Dim::of(16)}});
  g.outputs.push_back({"z", DType::kFloat32, {nn::Dim::symbolic("n"), nn::Dim::of(8)}});
  return g;
}

TEST(Inspect, QuantizationNodesWithGranularityAndBits) {
  TempDir dir;
  io::save_onnx_graph(quantized_graph(), dir.file("q.onnx"));
  const nlohmann::json j = inspect_json(dir.file("q.onnx"));
  std::map<std::string, nlohmann::json> by_node;
  for (const auto& q : j.at("quantization")) by_node[q.at("node")] = q;
  ASSERT_EQ(by_node.size(), 4u) << j.at("quantization").dump(1);

  const auto& qx = by_node.at("q_x").at("scales").at(0);
  EXPECT_EQ(qx.at("granularity"), "per-tensor");
  EXPECT_EQ(qx.at("bits"), 8);
  EXPECT_EQ(qx.at("signed"), false);
  EXPECT_EQ(qx.at("scale"), "x_scale");

  const auto& dw = by_node.at("dq_w").at("scales").at(0);
  EXPECT_EQ(dw.at("granularity"), "per-channel");
  EXPECT_EQ(dw.at("channels"), 16);
  EXPECT_EQ(dw.at("axis"), 1);
  EXPECT_EQ(dw.at("bits"), 8);
  EXPECT_EQ(dw.at("signed"), true);

  const auto& nb = by_node.at("mm4");
  EXPECT_EQ(nb.at("domain"), "com.microsoft");
  EXPECT_EQ(nb.at("scales")[0].at("granularity"), "per-block");
  EXPECT_EQ(nb.at("scales")[0].at("block_size"), 32);
  EXPECT_EQ(nb.at("scales")[0].at("bits"), 4);

  EXPECT_EQ(j.at("ops").at("com.microsoft:MatMulNBits"), 1);
  for (const auto& w : j.at("weights")) {
    if (w.at("name") == "b_packed") {
      EXPECT_EQ(w.at("packed"), true);
      EXPECT_TRUE(w.at("sparsity").is_null());
    }
  }
  EXPECT_EQ(j.at("parameters").at("by_dtype").at("int8").at("count"), 32 * 16 + 16);

  const CliResult text = run_tamp({"inspect", dir.file("q.onnx")});
  EXPECT_NE(text.out.find("dq_w (DequantizeLinear)  x: int8 per-channel (16, axis 1)"),
            std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("q_x (QuantizeLinear)  y: uint8 per-tensor"), std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("mm4 (com.microsoft:MatMulNBits)  b: uint4 per-block (32)"),
            std::string::npos)
      << text.out;
}

// A model whose ops tamp lacks (Hardmax, and twice ONNX Runtime's FastGelu).
nn::Graph unsupported_graph() {
  nn::Graph g;
  g.opsets = {{"", 13}, {"com.microsoft", 1}};
  g.inputs.push_back({"x", DType::kFloat32, {nn::Dim::of(2), nn::Dim::of(5)}});
  g.nodes.push_back({"hm", "Hardmax", "", {"x"}, {"h"}});
  g.nodes.push_back({"r", "Relu", "", {"h"}, {"r"}});
  g.nodes.push_back({"g1", "FastGelu", "com.microsoft", {"r"}, {"g"}});
  g.nodes.push_back({"g2", "FastGelu", "com.microsoft", {"g"}, {"y"}});
  g.outputs.push_back({"y", DType::kFloat32, {nn::Dim::of(2), nn::Dim::of(5)}});
  return g;
}

// The export target tamp records in a quantized model's metadata; none in a float one.
TEST(Inspect, ShowsTheQuantizationTarget) {
  EXPECT_TRUE(inspect_json(model_file("mlp")).at("quantization_target").is_null());
  TempDir dir;
  const std::string out = dir.file("mlp_dynamic.onnx");
  const CliResult q = run_tamp(
      {"quantize", model_file("mlp"), "--method", "dynamic", "--target", "arm", "--out", out});
  ASSERT_EQ(q.code, 0) << q.err;
  EXPECT_EQ(inspect_json(out).at("quantization_target"), "arm");
  const CliResult text = run_tamp({"inspect", out});
  EXPECT_NE(text.out.find("target arm: exported to compute exactly"), std::string::npos)
      << text.out;
}

TEST(Inspect, ListsUnsupportedOpsAndStillSucceeds) {
  TempDir dir;
  io::save_onnx_graph(unsupported_graph(), dir.file("u.onnx"));
  const nlohmann::json j = inspect_json(dir.file("u.onnx"));
  ASSERT_EQ(j.at("unsupported_ops").size(), 2u);
  EXPECT_EQ(j.at("unsupported_ops")[0].at("op_type"), "Hardmax");
  EXPECT_EQ(j.at("unsupported_ops")[0].at("domain"), "ai.onnx");
  EXPECT_EQ(j.at("unsupported_ops")[0].at("opset"), 13);
  EXPECT_EQ(j.at("unsupported_ops")[1].at("op_type"), "FastGelu");
  EXPECT_EQ(j.at("unsupported_ops")[1].at("domain"), "com.microsoft");
  EXPECT_EQ(j.at("unsupported_ops")[1].at("nodes"), (std::vector<std::string>{"g1", "g2"}));
  EXPECT_EQ(j.at("runnable"), false);
  EXPECT_TRUE(j.at("parameters").at("trainable").is_null());
  EXPECT_EQ(j.at("ops").at("com.microsoft:FastGelu"), 2);

  const CliResult text = run_tamp({"inspect", dir.file("u.onnx")});
  EXPECT_EQ(text.code, 0);
  EXPECT_NE(text.out.find("Hardmax (ai.onnx, opset 13): 1 node(s): hm"), std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("FastGelu (com.microsoft, opset 1): 2 node(s): g1, g2"),
            std::string::npos)
      << text.out;
}

// What inspect reports unsupported is what infer refuses, at any opset: both ask the op
// table about each node at the model's opset (opset 7 was once shown runnable by inspect and
// refused by infer; opset 18 was refused by both).
TEST(Inspect, AgreesWithInferAtEveryOpset) {
  TempDir dir;
  const Tensor x = Tensor::from_vector<float>({2, 3}, {-1, 2, -3, 4, -5, 6});
  io::write_tensor_file(dir.file("x.pb"), x, "x");
  for (int opset : {7, 13, 18, 21, 22}) {
    SCOPED_TRACE("opset " + std::to_string(opset));
    nn::Graph g;
    g.opsets = {{"", opset}};
    g.inputs.push_back({"x", DType::kFloat32, {nn::Dim::of(2), nn::Dim::of(3)}});
    g.nodes.push_back({"relu", "Relu", "", {"x"}, {"r"}});
    g.nodes.push_back({"sum", "Add", "", {"r", "x"}, {"y"}});
    g.outputs.push_back({"y", DType::kFloat32, {nn::Dim::of(2), nn::Dim::of(3)}});
    const std::string path = dir.file("opset" + std::to_string(opset) + ".onnx");
    io::save_onnx_graph(g, path);
    const nlohmann::json j = inspect_json(path);
    const CliResult r =
        run_tamp({"infer", path, "--input", dir.file("x.pb"), "--output-dir", dir.file("out")});
    const bool runnable = opset <= kMaxOpset;
    EXPECT_EQ(j.at("runnable"), runnable);
    EXPECT_EQ(j.at("unsupported_ops").size(), runnable ? 0u : 2u);
    EXPECT_EQ(r.code == 0, runnable) << r.err;
    if (!runnable) {
      EXPECT_NE(r.err.find("tamp implements the default domain up to opset 21"), std::string::npos)
          << r.err;
    }
  }
}

// A 2:4-pruned model quantized to int8 QDQ: the pattern is checked on the int8 weights behind
// DequantizeLinear (as the exported model computes with them), where it used to show nothing.
TEST(Inspect, PatternOfInt8QdqWeights) {
  TempDir dir;
  const std::string pruned = dir.file("p.onnx"), q = dir.file("q.onnx");
  ASSERT_EQ(run_tamp({"prune", model_file("cnn"), "--pattern", "2:4", "--out", pruned}).code, 0);
  const CliResult quantized = run_tamp({"quantize", pruned, "--method", "static", "--calib-data",
                                        "fashion-mnist", "--calib-batches", "2", "--out", q});
  ASSERT_EQ(quantized.code, 0) << quantized.err;
  const nlohmann::json j =
      nlohmann::json::parse(run_tamp({"inspect", q, "--pattern", "2:4", "--json"}).out);
  int checked = 0, valid = 0;
  for (const auto& w : j.at("weights")) {
    if (!w.contains("pattern")) continue;
    ++checked;
    EXPECT_EQ(w.at("dtype"), "uint8")
        << w.dump();  // the portable target: zero point 128 is the zero
    // conv1 has one input channel (9 values per output: no groups of 4) and stays dense
    if (w.at("shape")[1] == 1) continue;
    valid += w.at("pattern").at("valid").get<bool>();
    EXPECT_NEAR(w.at("sparsity").get<double>(), 0.5, 0.01) << w.dump();
  }
  EXPECT_EQ(checked, 4);
  EXPECT_EQ(valid, 3);
  const CliResult dense = run_tamp({"inspect", q, "--pattern", "1:4"});
  EXPECT_NE(dense.out.find("1:4: "), std::string::npos) << dense.out;  // violations named
}

}  // namespace
}  // namespace tamp::test
