// Malformed and hostile ONNX files, each built with the protobuf API: every one must give a
// tamp::Error of the right kind whose message names the file and the problem — never a
// crash, never an allocation sized by the file's claims. (Debian's onnx 1.12 checker accepts
// several of these, so the importer checks them itself.)
#include <tamp/io/onnx_import.h>
#include <tamp/nn/graph_module.h>

#include "support/expect.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>
#include <random>

namespace tamp::test {
namespace {

namespace fs = std::filesystem;
using onnx::TensorProto;

// y = Add(x, W): x float [2, 3] input, W float [3] initializer (raw_data), opset 13.
onnx::ModelProto base_model() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("g");
  auto* x = g->add_input();
  x->set_name("x");
  x->mutable_type()->mutable_tensor_type()->set_elem_type(TensorProto::FLOAT);
  x->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(2);
  x->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(3);
  auto* w = g->add_initializer();
  w->set_name("W");
  w->set_data_type(TensorProto::FLOAT);
  w->add_dims(3);
  const float values[3] = {1, 2, 3};
  w->set_raw_data(values, sizeof(values));
  auto* n = g->add_node();
  n->set_name("add1");
  n->set_op_type("Add");
  n->add_input("x");
  n->add_input("W");
  n->add_output("y");
  auto* y = g->add_output();
  y->set_name("y");
  y->mutable_type()->mutable_tensor_type()->set_elem_type(TensorProto::FLOAT);
  return m;
}

class HostileOnnx : public ::testing::Test {
 protected:
  std::string write(const std::string& bytes) {
    const std::string path = dir_.file("model.onnx");
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  std::string write(const onnx::ModelProto& m) { return write(m.SerializeAsString()); }

  // Loads, expects an Error of `kind` whose message has the file's context and every part.
  void expect_load_error(const std::string& path, ErrorKind kind,
                         const std::vector<std::string>& parts) {
    const std::string what = expect_error([&] { io::load_onnx_graph(path); }, kind, parts);
    if (!what.empty()) {
      EXPECT_EQ(what.rfind("loading '" + path + "': ", 0), 0u) << what;
    }
  }
  void expect_invalid(const onnx::ModelProto& m, std::vector<std::string> parts) {
    expect_load_error(write(m), ErrorKind::kInvalidInput, std::move(parts));
  }

  TensorProto& w(onnx::ModelProto& m) { return *m.mutable_graph()->mutable_initializer(0); }

  TempDir dir_;
};

TEST_F(HostileOnnx, TheBaseModelLoads) {
  const nn::Graph g = io::load_onnx_graph(write(base_model()));
  EXPECT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.initializers.at("W").to_vector<float>(), (std::vector<float>{1, 2, 3}));
}

TEST_F(HostileOnnx, GarbageIsNotAModel) {
  expect_load_error(write(std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11)),
                    ErrorKind::kInvalidInput, {"not a valid ONNX model"});
}

TEST_F(HostileOnnx, MissingFileIsAnIoError) {
  expect_load_error(dir_.file("absent.onnx"), ErrorKind::kIo, {"does not exist"});
}

TEST_F(HostileOnnx, EveryTruncationFailsCleanly) {
  const std::string bytes = base_model().SerializeAsString();
  int errors = 0;
  for (size_t n = 0; n < bytes.size(); ++n) {
    try {
      io::parse_onnx_graph(bytes.substr(0, n));
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput) << "cut at " << n << ": " << e.what();
      ++errors;
    }
  }
  EXPECT_EQ(errors, static_cast<int>(bytes.size()));  // no prefix is a complete model
}

TEST_F(HostileOnnx, RandomByteCorruptionNeverEscapesAsAnythingButError) {
  // Run under the asan preset, this also shows that no corruption reads out of bounds.
  const std::string bytes = base_model().SerializeAsString();
  std::mt19937 rng(20240611);
  int loaded = 0, errors = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bad = bytes;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) bad[rng() % bad.size()] = static_cast<char>(rng() & 0xff);
    try {
      io::parse_onnx_graph(bad);
      ++loaded;
    } catch (const Error&) {
      ++errors;
    }
  }
  EXPECT_EQ(loaded + errors, 3000);
  EXPECT_GT(errors, 1000);
}

TEST_F(HostileOnnx, NegativeDim) {
  auto m = base_model();
  w(m).set_dims(0, -3);
  expect_invalid(m, {"initializer 'W'", "negative dim"});
}

TEST_F(HostileOnnx, DimsOverflowingInt64) {
  auto m = base_model();
  w(m).set_dims(0, int64_t{1} << 40);
  w(m).add_dims(int64_t{1} << 40);
  expect_invalid(m, {"initializer 'W'", "multiply past int64"});
}

TEST_F(HostileOnnx, AbsurdNumberOfDims) {
  auto m = base_model();
  for (int i = 0; i < 1000; ++i) w(m).add_dims(1);
  expect_invalid(m, {"initializer 'W'", "1001 dims"});
  auto m2 = base_model();
  auto* shape =
      m2.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
  for (int i = 0; i < 100000; ++i) shape->add_dim()->set_dim_value(1);
  expect_invalid(m2, {"graph input 'x'", "100002 dims"});
}

TEST_F(HostileOnnx, RawDataShorterOrLongerThanTheShape) {
  auto m = base_model();
  w(m).set_raw_data(std::string(8, '\0'));
  expect_invalid(m, {"initializer 'W'", "raw_data has 8 bytes", "needs 12"});
  w(m).set_raw_data(std::string(16, '\0'));
  expect_invalid(m, {"initializer 'W'", "raw_data has 16 bytes", "needs 12"});
}

TEST_F(HostileOnnx, HugeShapeWithLittleDataAllocatesNothing) {
  auto m = base_model();
  w(m).set_dims(0, int64_t{1} << 30);
  w(m).add_dims(int64_t{1} << 30);  // 2^60 floats claimed, 12 bytes present
  expect_invalid(m, {"raw_data has 12 bytes", "needs 4611686018427387904"});
  w(m).set_dims(1, int64_t{1} << 32);  // 2^62 floats: not even a byte count
  expect_invalid(m, {"too many bytes"});
}

TEST_F(HostileOnnx, TypedDataCountMismatch) {
  auto m = base_model();
  w(m).clear_raw_data();
  w(m).add_float_data(1);
  w(m).add_float_data(2);
  expect_invalid(m, {"initializer 'W'", "float_data holds 2 values", "3 elements"});
}

TEST_F(HostileOnnx, Cycle) {
  auto m = base_model();
  auto* g = m.mutable_graph();
  g->mutable_node(0)->set_input(1, "z");  // y = Add(x, z), z = Relu(y)
  auto* relu = g->add_node();
  relu->set_name("relu1");
  relu->set_op_type("Relu");
  relu->add_input("y");
  relu->add_output("z");
  expect_invalid(m, {"cycle", "'add1' (Add)", "'relu1' (Relu)"});
}

TEST_F(HostileOnnx, UndefinedValue) {
  auto m = base_model();
  m.mutable_graph()->mutable_node(0)->set_input(1, "nowhere");
  expect_invalid(m, {"node 'add1' (Add", "input 'nowhere' is not defined"});
}

TEST_F(HostileOnnx, DuplicateNames) {
  auto m = base_model();
  *m.mutable_graph()->add_node() = m.graph().node(0);  // same name, same output
  m.mutable_graph()->mutable_node(1)->set_output(0, "y2");
  expect_invalid(m, {"node 'add1'", "same name"});
  m.mutable_graph()->mutable_node(1)->set_name("add2");
  m.mutable_graph()->mutable_node(1)->set_output(0, "y");
  expect_invalid(m, {"node 'add2'", "output 'y' is already defined"});
  auto m2 = base_model();
  *m2.mutable_graph()->add_initializer() = m2.graph().initializer(0);
  expect_invalid(m2, {"initializer 'W' is defined twice"});
}

// Whether a node runs is the op table's answer at the node's opset, for old and new opsets
// alike; the graph itself loads whatever the opset.
TEST_F(HostileOnnx, OpsetsAreJudgedPerNodeByTheOpTable) {
  auto m = base_model();
  m.mutable_opset_import(0)->set_version(7);  // Add-7: numpy broadcasting, as from opset 13
  EXPECT_NO_THROW(io::load_onnx(write(m)));
  for (int opset : {18, 21}) {
    m.mutable_opset_import(0)->set_version(opset);
    EXPECT_NO_THROW(io::load_onnx(write(m))) << "opset " << opset;
  }
  m.mutable_opset_import(0)->set_version(22);
  const std::string path = write(m);
  EXPECT_NO_THROW(io::load_onnx_graph(path));
  try {
    io::load_onnx(path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("node 'add1': Add (domain ai.onnx, opset 22): tamp "
                                         "implements the default domain up to opset 21"),
              std::string::npos)
        << e.what();
  }
  m.mutable_opset_import(0)->set_version(int64_t{1} << 40);  // must not wrap around to a small int
  expect_invalid(m, {"imported with opset 1099511627776"});
}

TEST_F(HostileOnnx, MissingOpsetImport) {
  auto m = base_model();
  m.clear_opset_import();
  expect_invalid(m, {"no opset import"});
  auto m2 = base_model();
  m2.mutable_graph()->mutable_node(0)->set_domain("com.example");
  expect_invalid(m2, {"node 'add1' (Add)", "imports no opset for domain 'com.example'"});
}

TEST_F(HostileOnnx, TampDomainIsVersionOne) {
  auto m = base_model();
  auto* op = m.add_opset_import();
  op->set_domain("tamp");
  op->set_version(1);
  EXPECT_NO_THROW(io::load_onnx_graph(write(m)));
  op->set_version(2);
  expect_load_error(write(m), ErrorKind::kUnsupported, {"opset 2 of domain 'tamp'"});
}

TEST_F(HostileOnnx, UnknownOpsAreListedWithTheFile) {
  auto m = base_model();
  m.mutable_graph()->mutable_node(0)->set_op_type("NoSuchOp");
  const std::string path = write(m);
  EXPECT_NO_THROW(io::load_onnx_graph(path));  // the graph itself is fine
  try {
    io::load_onnx(path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("loading '" + path +
                                         "': 1 node(s) use ops tamp does not support"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find(
                  "node 'add1': NoSuchOp (domain ai.onnx, opset 13): tamp has no such op"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(HostileOnnx, SubgraphAttributeNamesTheNode) {
  auto m = base_model();
  auto* a = m.mutable_graph()->mutable_node(0)->add_attribute();
  a->set_name("then_branch");
  a->set_type(onnx::AttributeProto::GRAPH);
  a->mutable_g()->set_name("branch");
  expect_load_error(write(m), ErrorKind::kUnsupported,
                    {"node 'add1' (Add)", "attribute 'then_branch' holds a subgraph"});
}

TEST_F(HostileOnnx, StringTensorsAreUnsupported) {
  auto m = base_model();
  w(m).clear_raw_data();
  w(m).set_data_type(TensorProto::STRING);
  expect_load_error(write(m), ErrorKind::kUnsupported, {"initializer 'W'", "STRING"});
}

// ---- external data ----

class HostileExternalData : public HostileOnnx {
 protected:
  // W's 12 bytes live in `location`.
  onnx::ModelProto external(const std::string& location, const std::string& offset = "",
                            const std::string& length = "") {
    auto m = base_model();
    w(m).clear_raw_data();
    w(m).set_data_location(TensorProto::EXTERNAL);
    auto add = [&](const std::string& k, const std::string& v) {
      auto* kv = w(m).add_external_data();
      kv->set_key(k);
      kv->set_value(v);
    };
    add("location", location);
    if (!offset.empty()) add("offset", offset);
    if (!length.empty()) add("length", length);
    return m;
  }
  void write_weights(const fs::path& path, size_t padding = 0) {
    const float values[3] = {4, 5, 6};
    std::ofstream out(path, std::ios::binary);
    out << std::string(padding, 'p');
    out.write(reinterpret_cast<const char*>(values), sizeof(values));
  }
};

TEST_F(HostileExternalData, InsideTheFolderLoads) {
  fs::create_directories(dir_.path() / "weights");
  write_weights(dir_.path() / "weights" / "w.bin", 4);
  const nn::Graph g = io::load_onnx_graph(write(external("weights/w.bin", "4", "12")));
  EXPECT_EQ(g.initializers.at("W").to_vector<float>(), (std::vector<float>{4, 5, 6}));
}

TEST_F(HostileExternalData, EscapesAreRefused) {
  TempDir outside;
  write_weights(outside.path() / "secret.bin");
  const std::string up = fs::relative(outside.path() / "secret.bin", dir_.path())
                             .string();  // ../tamp_io_test_x/secret.bin
  expect_invalid(external(up), {"initializer 'W'", "outside the model's folder"});
  expect_invalid(external((outside.path() / "secret.bin").string()),
                 {"initializer 'W'", "is absolute"});
  fs::create_symlink(outside.path() / "secret.bin", dir_.path() / "link.bin");
  expect_invalid(external("link.bin"), {"initializer 'W'", "outside the model's folder"});
  fs::create_directory_symlink(outside.path(), dir_.path() / "linkdir");
  expect_invalid(external("linkdir/secret.bin"), {"outside the model's folder"});
}

TEST_F(HostileExternalData, OffsetsAndLengthsPastTheEnd) {
  write_weights(dir_.path() / "w.bin");
  expect_invalid(external("w.bin", "100"), {"offset 100 is past the end", "12 bytes"});
  expect_invalid(external("w.bin", "4", "12"), {"offset 4 + length 12 is past the end"});
  expect_invalid(external("w.bin", "0", "8"), {"has 8 bytes", "needs 12"});
  expect_invalid(external("w.bin", "-1"), {"offset '-1' is not a non-negative integer"});
  expect_invalid(external("w.bin", "99999999999999999999999"), {"is not a non-negative integer"});
  expect_invalid(external("missing.bin"), {"'missing.bin' does not exist"});
}

TEST_F(HostileExternalData, RefusedWithoutAModelFolder) {
  write_weights(dir_.path() / "w.bin");
  try {
    io::parse_onnx_graph(external("w.bin").SerializeAsString());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs the model's folder"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace tamp::test

namespace tamp::test {
namespace {

// Found by the onnx_model fuzzer: an inference-mode BatchNormalization declares the optional
// running-statistics outputs (returned only with training_mode = 1) and the graph outputs one.
TEST_F(HostileOnnx, ReadingAnOutputTheOpDoesNotReturnIsAnError) {
  auto m = base_model();
  m.mutable_opset_import(0)->set_version(15);
  auto* g = m.mutable_graph();
  g->clear_initializer();
  for (const char* name : {"scale", "bias", "mean", "var"}) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(TensorProto::FLOAT);
    t->add_dims(3);
    for (int i = 0; i < 3; ++i) t->add_float_data(1.0f);
  }
  auto* n = g->mutable_node(0);
  n->set_name("bn");
  n->set_op_type("BatchNormalization");
  n->clear_input();
  for (const char* in : {"x", "scale", "bias", "mean", "var"}) n->add_input(in);
  n->add_output("running_mean");
  n->add_output("running_var");
  auto* out = g->add_output();
  out->set_name("running_mean");
  out->mutable_type()->mutable_tensor_type()->set_elem_type(TensorProto::FLOAT);
  nn::GraphModule module(io::load_onnx_graph(write(m)));
  module.eval();
  try {
    module.forward({{"x", Variable(Tensor::zeros({2, 3}, DType::kFloat32))}});
    ADD_FAILURE() << "forward returned a value the node never computed";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
    EXPECT_NE(std::string(e.what()).find(
                  "'running_mean' is read but was never computed: node 'bn' (BatchNormalization)"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace tamp::test
