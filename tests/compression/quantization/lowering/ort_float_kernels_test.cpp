// ONNX Runtime's float kernels that tamp's simulation of a quantized model reproduces bit for
// bit (fused_simulation.h): OrtSoftmax and OrtLayerNormalization (autograd/ops/ort_float_ops.cpp)
// against ONNX Runtime's Softmax and LayerNormalization on this CPU, element by element. tamp's
// own ops (Highway's exp, other summation orders, a two-pass variance) differ from ORT in the
// last bits of some elements, which moves a quantized value over a rounding boundary.
#include <tamp/io/onnx_export.h>
#include <tamp/nn/graph_module.h>

#include "support/host_cpu.h"
#include "support/ort_runner.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <tuple>

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

nn::Graph layer_norm_graph(int64_t rows, int64_t n, const Tensor& scale, const Tensor& bias,
                           bool ort) {
  nn::Graph g;
  g.opsets[""] = 17;
  if (ort) g.opsets[std::string(kTampDomain)] = 1;
  const std::vector<nn::Dim> dims{nn::Dim::of(rows), nn::Dim::of(n)};
  g.inputs.push_back({"x", DType::kFloat32, dims});
  g.outputs.push_back({"y", DType::kFloat32, dims});
  g.initializers["scale"] = scale;
  g.initializers["bias"] = bias;
  Attributes a;
  a.set("axis", int64_t{-1});
  a.set("epsilon", 1e-5f);
  g.nodes.push_back({"ln",
                     ort ? "OrtLayerNormalization" : "LayerNormalization",
                     ort ? std::string(kTampDomain) : "",
                     {"x", "scale", "bias"},
                     {"y"},
                     nn::attrs_with(a)});
  return g;
}

// The tiny transformer's LayerNormalization: rows of 128 dequantized residual sums (integers
// times a scale, what ORT's LayerNormalization reads after QLinearAdd), and rows of 100 (a
// partial vector) of plain floats.
TEST(OrtFloatKernels, LayerNormalizationMatchesOrtBitForBit) {
  if (const std::string why = skip_unless_mlas_avx2_float_kernels(); !why.empty())
    GTEST_SKIP() << why;
  std::mt19937 rng(5);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  int64_t plain_differs = 0, total = 0;
  for (const auto& [rows, n, quantized] :
       {std::tuple{4096, 128, true}, std::tuple{512, 100, false}}) {
    Tensor scale = Tensor::empty({n}), bias = Tensor::empty({n}), x = Tensor::empty({rows, n});
    for (int64_t i = 0; i < n; ++i) {
      scale.data<float>()[i] = 1.0f + 0.2f * gauss(rng);
      bias.data<float>()[i] = 0.1f * gauss(rng);
    }
    for (int64_t i = 0; i < x.numel(); ++i) {
      const float v = 3.0f * gauss(rng) + 0.5f;
      x.data<float>()[i] = quantized ? std::nearbyint(v / 0.0471f) * 0.0471f : v;
    }
    TempDir dir;
    io::save_onnx_graph(layer_norm_graph(rows, n, scale, bias, false), dir.file("m.onnx"));
    const Tensor ort = run_ort(dir.file("m.onnx"), {{"x", x}}).at("y");
    EXPECT_EQ(differing(run_tamp(layer_norm_graph(rows, n, scale, bias, true), x), ort), 0)
        << rows << " x " << n;
    plain_differs += differing(run_tamp(layer_norm_graph(rows, n, scale, bias, false), x), ort);
    total += x.numel();
  }
  fmt::print(
      "[ info ] tamp's own LayerNormalization differs from ORT's in the last bits on {} of {}\n",
      plain_differs, total);
}

}  // namespace
}  // namespace tamp::test
