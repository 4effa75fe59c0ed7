// The exporter's own guarantees: every attribute and dim kind survives, pre-IR-4 models list
// their initializers as inputs, non-standard domains and checker failures are refused before
// anything is written, and an existing file is never left half-replaced.
#include <tamp/io/onnx_export.h>
#include <tamp/io/onnx_import.h>
#include <tamp/version.h>

#include "io/graph_compare.h"
#include "support/temp_dir.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>

namespace tamp::test {
namespace {

namespace fs = std::filesystem;

nn::Graph relu_graph() {
  nn::Graph g;
  g.name = "relu";
  g.inputs.push_back(
      {"x", DType::kFloat32, {nn::Dim::symbolic("batch"), nn::Dim{}, nn::Dim::of(4)}});
  g.nodes.push_back({"r", "Relu", "", {"x"}, {"y"}, nn::attrs_with({})});
  g.outputs.push_back(
      {"y", DType::kFloat32, {nn::Dim::symbolic("batch"), nn::Dim{}, nn::Dim::of(4)}});
  g.value_info.push_back(
      {"y", DType::kFloat32, {nn::Dim::symbolic("batch"), nn::Dim{}, nn::Dim::of(4)}});
  g.producer_name = "tamp-test";
  g.doc_string = "doc";
  g.metadata["k"] = "v";
  return g;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(OnnxExport, EveryAttributeAndDimKindSurvives) {
  nn::Graph g = relu_graph();
  g.opsets["com.microsoft"] = 1;  // the checker leaves ops of other domains alone
  Attributes a;
  a.set("i", int64_t{-7});
  a.set("f", 0.1f);
  a.set("s", std::string("bytes\0here", 10));
  a.set("ints", std::vector<int64_t>{});
  a.set("floats", std::vector<float>{1.5f, -0.0f});
  a.set("strings", std::vector<std::string>{"a", ""});
  a.set("t", Tensor::from_vector<int32_t>({2}, {1, -1}));
  g.nodes.push_back({"custom", "Custom", "com.microsoft", {"y"}, {"z"}, nn::attrs_with(a)});
  g.outputs.push_back({"z", DType::kFloat16, {nn::Dim::of(1)}});
  TempDir dir;
  io::save_onnx_graph(g, dir.file("m.onnx"), {.keep_producer = true});
  const nn::Graph back = io::load_onnx_graph(dir.file("m.onnx"));
  EXPECT_EQ(graph_difference(g, back), "");
}

TEST(OnnxExport, ProducerIsTampAndItsVersionUnlessKept) {
  nn::Graph g = relu_graph();
  g.producer_version = "9.9";
  const nn::Graph stamped = io::parse_onnx_graph(io::serialize_onnx_graph(g));
  EXPECT_EQ(stamped.producer_name, "tamp");
  EXPECT_EQ(stamped.producer_version, kVersion);
  EXPECT_EQ(stamped.producer_version,
            fmt::format("{}.{}.{}", TAMP_VERSION_MAJOR, TAMP_VERSION_MINOR, TAMP_VERSION_PATCH));
  const nn::Graph kept = io::parse_onnx_graph(io::serialize_onnx_graph(g, {.keep_producer = true}));
  EXPECT_EQ(kept.producer_name, "tamp-test");
  EXPECT_EQ(kept.producer_version, "9.9");
}

TEST(OnnxExport, BeforeIr4InitializersAreAlsoInputs) {
  nn::Graph g = relu_graph();
  g.ir_version = 3;
  g.opsets[""] = 11;
  g.initializers["b"] = Tensor::ones({4});
  g.nodes.push_back({"add", "Add", "", {"y", "b"}, {"z"}, nn::attrs_with({})});
  g.outputs = {{"z", DType::kFloat32, {nn::Dim::symbolic("batch"), nn::Dim{}, nn::Dim::of(4)}}};
  TempDir dir;
  io::save_onnx_graph(g, dir.file("m.onnx"), {.keep_producer = true});
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(read_bytes(dir.file("m.onnx"))));
  ASSERT_EQ(m.graph().input_size(), 2);
  EXPECT_EQ(m.graph().input(1).name(), "b");
  EXPECT_EQ(graph_difference(g, io::load_onnx_graph(dir.file("m.onnx"))), "");
}

TEST(OnnxExport, UndeclaredOutputShapesComeFromOnnxShapeInference) {
  nn::Graph g = relu_graph();
  g.outputs[0].shape.clear();
  g.outputs[0].has_shape = false;
  const nn::Graph back = io::parse_onnx_graph(io::serialize_onnx_graph(g));
  ASSERT_TRUE(back.outputs[0].has_shape);
  ASSERT_EQ(back.outputs[0].shape.size(), 3u);
  EXPECT_EQ(back.outputs[0].shape[0], nn::Dim::symbolic("batch"));
  EXPECT_EQ(back.outputs[0].shape[2], nn::Dim::of(4));
  g.inputs[0].has_shape = false;  // inputs cannot be inferred
  try {
    io::serialize_onnx_graph(g);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("graph input 'x' has no declared shape"),
              std::string::npos)
        << e.what();
  }
}

TEST(OnnxExport, RefusesTheTampDomainAndLeavesTheOldFile) {
  nn::Graph g = relu_graph();
  g.opsets["tamp"] = 1;
  g.nodes.push_back({"fq1", "FakeQuantize", "tamp", {"y"}, {"z"}, nn::attrs_with({})});
  g.outputs = {{"z", DType::kFloat32, {}, false}};
  TempDir dir;
  const std::string path = dir.file("m.onnx");
  std::ofstream(path) << "previous model";
  try {
    io::save_onnx_graph(g, path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("saving '" + path +
                                         "': node 'fq1' (FakeQuantize) is in domain 'tamp'"),
              std::string::npos)
        << e.what();
    EXPECT_NE(e.hint().find("lower"), std::string::npos);
  }
  EXPECT_EQ(read_bytes(path), "previous model");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(OnnxExport, CheckerFailuresAreErrors) {
  nn::Graph g = relu_graph();
  g.nodes[0].op_type = "NoSuchOp";
  try {
    io::serialize_onnx_graph(g);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fails onnx's checker"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("NoSuchOp"), std::string::npos) << e.what();
  }
}

TEST(OnnxExport, SmallTensorsTypedLargeOnesRaw) {
  nn::Graph g = relu_graph();
  g.initializers["small"] = Tensor::ones({255});  // 1020 bytes
  g.initializers["large"] = Tensor::ones({256});  // 1024 bytes
  g.nodes.push_back({"a1", "Add", "", {"y", "small"}, {"z1"}, nn::attrs_with({})});
  g.nodes.push_back({"a2", "Add", "", {"y", "large"}, {"z2"}, nn::attrs_with({})});
  g.outputs = {{"z1", DType::kFloat32, {nn::Dim{}}}, {"z2", DType::kFloat32, {nn::Dim{}}}};
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(io::serialize_onnx_graph(g)));
  for (const auto& init : m.graph().initializer()) {
    EXPECT_EQ(init.has_raw_data(), init.name() == "large") << init.name();
    EXPECT_EQ(init.float_data_size(), init.name() == "small" ? 255 : 0) << init.name();
  }
}

}  // namespace
}  // namespace tamp::test
