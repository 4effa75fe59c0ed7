// The exported test models run in tamp and in ONNX Runtime: same outputs, before and after a
// round trip through tamp's exporter; and the architectures (ResNet-18, MobileNetV2, a
// BERT-style encoder) at opsets 17, 18 and 21.
#include "support/expect.h"
#include "support/ort_runner.h"
#include "support/random_input.h"
#include "support/temp_dir.h"

#include <tamp/io/onnx_export.h>
#include <tamp/io/onnx_import.h>

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <fstream>

namespace tamp::test {
namespace {

class OrtReference : public ::testing::TestWithParam<std::string> {};

TEST_P(OrtReference, TampMatchesOnnxRuntimeBeforeAndAfterExport) {
  const std::string path = source_dir() + "/tests/data/models/" + GetParam() + ".onnx";
  nn::GraphModule model = io::load_onnx(path);
  model.eval();
  const nn::ValueInfo& in = model.graph().inputs.at(0);
  const std::string out = model.graph().outputs.at(0).name;
  const Tensor x = random_input(in, 5, 7);
  Tensor mine;
  {
    NoGradGuard no_grad;
    mine = model.forward({{in.name, Variable(x)}}).at(out).value();
  }
  expect_close(mine, run_ort(path, {{in.name, x}}).at(out), {.rtol_of_max = 1e-4});

  TempDir dir;
  io::save_onnx(model, dir.file("roundtrip.onnx"));
  expect_close(mine, run_ort(dir.file("roundtrip.onnx"), {{in.name, x}}).at(out),
               {.rtol_of_max = 1e-4});
}

INSTANTIATE_TEST_SUITE_P(Models, OrtReference,
                         ::testing::Values("mlp", "cnn", "cnn_bn", "cnn_wide", "transformer",
                                           "cnn_fmnist"));

// scripts/export_test_models.py --architectures: torch's opset-17 exports, the encoder also
// upgraded to opsets 18 and 21 by the script (Reduce axes inputs, Gelu). The CNNs use no op
// that changed after opset 17, so their opset 18 and 21 files are the same graph with the
// opset import raised, written here.
struct ArchitectureCase {
  std::string model;  // under tests/data/models
  int opset;
  std::string file;  // the opset's own file, or "" to raise the opset of `model`
};

std::string with_opset(const std::string& path, int opset, const TempDir& dir) {
  onnx::ModelProto m;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(m.ParseFromIstream(&in)) << path;
  for (auto& o : *m.mutable_opset_import())
    if (o.domain().empty()) o.set_version(opset);
  m.set_ir_version(opset >= 21   ? 10
                   : opset >= 19 ? 9
                                 : 8);  // the IR version released with the opset
  const std::string out = dir.file("opset" + std::to_string(opset) + ".onnx");
  std::ofstream f(out, std::ios::binary);
  m.SerializeToOstream(&f);
  return out;
}

class ArchitectureOpsets : public ::testing::TestWithParam<ArchitectureCase> {};

TEST_P(ArchitectureOpsets, TampMatchesOnnxRuntime) {
  const ArchitectureCase& c = GetParam();
  const std::string models = source_dir() + "/tests/data/models/";
  TempDir dir;
  const std::string path =
      c.file.empty() ? with_opset(models + c.model + ".onnx", c.opset, dir) : models + c.file;
  nn::GraphModule model = io::load_onnx(path);
  ASSERT_EQ(model.graph().opset(""), c.opset);
  model.eval();
  const nn::ValueInfo& in = model.graph().inputs.at(0);
  const std::string out = model.graph().outputs.at(0).name;
  const Tensor x = random_input(in, 3, 11);
  Tensor mine;
  {
    NoGradGuard no_grad;
    mine = model.forward({{in.name, Variable(x)}}).at(out).value();
  }
  const Tensor ort = run_ort(path, {{in.name, x}}).at(out);
  expect_close(mine, ort, {.rtol_of_max = 1e-4});
  // The upgraded file computes what torch's opset-17 export computes.
  expect_close(ort, run_ort(models + c.model + ".onnx", {{in.name, x}}).at(out),
               {.rtol_of_max = 1e-5});
  // tamp writes the opset it read (onnx 1.12's checker skipped above opset 17).
  io::save_onnx(model, dir.file("tamp.onnx"));
  expect_close(mine, run_ort(dir.file("tamp.onnx"), {{in.name, x}}).at(out), {.rtol_of_max = 1e-4});
}

INSTANTIATE_TEST_SUITE_P(
    Models, ArchitectureOpsets,
    ::testing::Values(ArchitectureCase{"resnet18", 17, "resnet18.onnx"},
                      ArchitectureCase{"resnet18", 18, ""}, ArchitectureCase{"resnet18", 21, ""},
                      ArchitectureCase{"mobilenet_v2", 17, "mobilenet_v2.onnx"},
                      ArchitectureCase{"mobilenet_v2", 18, ""},
                      ArchitectureCase{"mobilenet_v2", 21, ""},
                      ArchitectureCase{"bert_encoder", 17, "bert_encoder.onnx"},
                      ArchitectureCase{"bert_encoder", 18, "bert_encoder_opset18.onnx"},
                      ArchitectureCase{"bert_encoder", 21, "bert_encoder_opset21.onnx"}),
    [](const ::testing::TestParamInfo<ArchitectureCase>& info) {
      return info.param.model + "_opset" + std::to_string(info.param.opset);
    });

}  // namespace
}  // namespace tamp::test
