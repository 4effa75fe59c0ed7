// The exported test models run in tamp and in ONNX Runtime: same outputs, before and after a
// round trip through tamp's exporter.
#include "support/ort_runner.h"
#include "support/temp_dir.h"

#include <tamp/io/onnx_export.h>
#include <tamp/io/onnx_import.h>

#include <gtest/gtest.h>

#include <cmath>

namespace tamp::test {
namespace {

Tensor random_input(const nn::ValueInfo& info, int64_t batch, uint64_t seed) {
  Shape shape;
  for (const auto& d : info.shape) shape.push_back(d.known() ? d.value : batch);
  Generator g(seed);
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = g.uniform();
  return t;
}

void expect_close(const Tensor& tamp_out, const Tensor& ort_out, double rtol) {
  ASSERT_EQ(tamp_out.shape(), ort_out.shape());
  double scale = 0;
  for (int64_t i = 0; i < ort_out.numel(); ++i) scale = std::max(scale, std::abs(ort_out.at(i)));
  for (int64_t i = 0; i < ort_out.numel(); ++i) {
    ASSERT_NEAR(tamp_out.at(i), ort_out.at(i), rtol * std::max(scale, 1e-6)) << "element " << i;
  }
}

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
  expect_close(mine, run_ort(path, {{in.name, x}}).at(out), 1e-4);

  TempDir dir;
  io::save_onnx(model, dir.file("roundtrip.onnx"));
  expect_close(mine, run_ort(dir.file("roundtrip.onnx"), {{in.name, x}}).at(out), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Models, OrtReference,
                         ::testing::Values("mlp", "cnn", "cnn_bn", "cnn_wide", "transformer", "cnn_fmnist"));

}  // namespace
}  // namespace tamp::test
