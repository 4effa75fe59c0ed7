// ONNX Runtime's float kernels that tamp's simulation of a quantized model reproduces bit for
// bit (fused_simulation.h): OrtSoftmax (autograd/ops/ort_float_ops.cpp) against ONNX Runtime's
// Softmax on this CPU, element by element. tamp's own Softmax (Highway's exp, another summation
// order) differs from ORT in the last bits of some elements, which moves a quantized attention
// probability over a rounding boundary.
#include <tamp/compression/quantization/lowering/fused_simulation.h>
#include <tamp/io/onnx_export.h>
#include <tamp/nn/graph_module.h>

#include "support/host_cpu.h"
#include "support/ort_runner.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <random>

namespace tamp::test {
namespace {

nn::Graph softmax_graph(const Shape& shape, int64_t axis, bool ort_softmax) {
  nn::Graph g;
  g.opsets[""] = 13;
  std::vector<nn::Dim> dims;
  for (int64_t d : shape) dims.push_back(nn::Dim::of(d));
  g.inputs.push_back({"x", DType::kFloat32, dims});
  g.outputs.push_back({"y", DType::kFloat32, dims});
  Attributes a;
  a.set("axis", axis);
  if (ort_softmax) g.opsets[std::string(kTampDomain)] = 1;
  g.nodes.push_back({"softmax",
                     ort_softmax ? "OrtSoftmax" : "Softmax",
                     ort_softmax ? std::string(kTampDomain) : "",
                     {"x"},
                     {"y"},
                     nn::attrs_with(a)});
  return g;
}

Tensor run_tamp(const nn::Graph& g, const Tensor& x) {
  nn::GraphModule m(g);
  NoGradGuard no_grad;
  return m.forward({{"x", Variable(x)}}).at("y").value();
}

int64_t differing(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  int64_t n = 0;
  for (int64_t i = 0; i < a.numel(); ++i) n += a.data<float>()[i] != b.data<float>()[i];
  return n;
}

// Rows of 64 (the tiny transformer's attention), widths that leave a partial vector of 8 and
// take MLAS's 24-wide loop, and a softmax along an inner axis (ORT transposes it to the last).
TEST(OrtFloatKernels, SoftmaxMatchesOrtBitForBit) {
  if (const std::string why = skip_unless_mlas_avx2_float_kernels(); !why.empty())
    GTEST_SKIP() << why;
  struct Case {
    Shape shape;
    int64_t axis;
  };
  std::mt19937 rng(11);
  std::normal_distribution<float> logits(0.0f, 4.0f);
  int64_t plain_differs = 0, total = 0;
  for (const Case& c : {Case{{4096, 64}, -1}, Case{{512, 13}, -1}, Case{{256, 100}, -1},
                        Case{{2, 8, 64, 64}, 3}, Case{{16, 64, 12}, 1}}) {
    Tensor x = Tensor::empty(c.shape);
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = logits(rng);
    TempDir dir;
    io::save_onnx_graph(softmax_graph(c.shape, c.axis, false), dir.file("m.onnx"));
    const Tensor ort = run_ort(dir.file("m.onnx"), {{"x", x}}).at("y");
    const std::string what = fmt::format("shape {}, axis {}", to_string(c.shape), c.axis);
    EXPECT_EQ(differing(run_tamp(softmax_graph(c.shape, c.axis, true), x), ort), 0) << what;
    plain_differs += differing(run_tamp(softmax_graph(c.shape, c.axis, false), x), ort);
    total += x.numel();
  }
  fmt::print("[ info ] tamp's own Softmax differs from ORT's in the last bits on {} of {}\n",
             plain_differs, total);
}

// The simulation and the integer run of an exported file share the choice: a Softmax reading a
// quantized value (ORT's QLinearSoftmax, not modelled) stays, every other one is MLAS's.
TEST(OrtFloatKernels, OnlySoftmaxesOffTheQuantizedGridBecomeOrtSoftmax) {
  nn::Graph g = softmax_graph({2, 8}, -1, false);
  g.nodes.push_back({"softmax_of_dq", "Softmax", "", {"dq"}, {"y2"}, nn::attrs_with(Attributes{})});
  EXPECT_EQ(compression::softmax_like_onnx_runtime(g, {"dq"}), 1);
  EXPECT_EQ(g.nodes[0].op_type, "OrtSoftmax");
  EXPECT_EQ(g.nodes[0].domain, std::string(kTampDomain));
  EXPECT_EQ(g.nodes[1].op_type, "Softmax");
  EXPECT_TRUE(g.nodes[1].domain.empty());
  EXPECT_EQ(g.opsets.at(std::string(kTampDomain)), 1);
  nn::Graph plain = softmax_graph({2, 8}, -1, false);
  plain.nodes[0].inputs = {"dq"};
  EXPECT_EQ(compression::softmax_like_onnx_runtime(plain, {"dq"}), 0);
  EXPECT_FALSE(plain.opsets.count(std::string(kTampDomain)));
}

}  // namespace
}  // namespace tamp::test
