// Shared by the architecture-search tests: the committed test models, tamp's eval-mode
// forward pass, and the largest difference of two tensors.
#pragma once

#include <tamp/io/onnx_import.h>
#include <tamp/nn/graph_module.h>

#include "support/ort_runner.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace tamp::test {

inline nn::Graph test_model(const std::string& name) {
  return io::load_onnx_graph(source_dir() + "/tests/data/models/" + name + ".onnx");
}

inline Tensor run_tamp(const nn::Graph& g, const Tensor& x) {
  nn::GraphModule m(g);
  m.eval();
  NoGradGuard no_grad;
  return m.forward({{g.inputs.at(0).name, Variable(x)}}).at(g.outputs.at(0).name).value();
}

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return INFINITY;
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i) worst = std::max(worst, std::fabs(a.at(i) - b.at(i)));
  return worst;
}

inline double max_abs(const Tensor& a) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::fabs(a.at(i)));
  return m;
}

inline Tensor random_tensor(const Shape& shape, uint64_t seed) {
  Generator rng(seed);
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = rng.normal();
  return t;
}

// x [1,4,6,6] -> block A: y = relu(x + bn(conv(relu(bn(conv(x))))))    (identity shortcut)
//            -> block B: z = relu(bn(conv_s2(y)) + bn(conv1x1_s2(y)))  (projection shortcut)
inline nn::Graph residual_graph() {
  nn::Graph g;
  g.inputs.push_back(
      {"x",
       DType::kFloat32,
       {nn::Dim::symbolic("batch"), nn::Dim::of(4), nn::Dim::of(6), nn::Dim::of(6)}});
  Generator rng(3);
  auto init = [&](const std::string& name, Shape shape, double offset = 0) {
    g.initializers[name] = random_tensor(shape, rng.next());
    if (offset != 0) {
      for (int64_t i = 0; i < g.initializers[name].numel(); ++i) {
        g.initializers[name].data<float>()[i] =
            static_cast<float>(offset + 0.1 * std::fabs(g.initializers[name].at(i)));
      }
    }
  };
  auto conv_bn = [&](const std::string& p, const std::string& in, const std::string& out, int64_t k,
                     int64_t stride) {
    init(p + ".w", {4, 4, k, k});
    for (const char* s : {".scale", ".bias", ".mean"}) init(p + s, {4});
    init(p + ".var", {4}, 1.0);
    const int64_t pad = k / 2;
    g.nodes.push_back({p + "/Conv",
                       "Conv",
                       "",
                       {in, p + ".w"},
                       {p + "_c"},
                       nn::attrs_with({{"pads", std::vector<int64_t>{pad, pad, pad, pad}},
                                       {"strides", std::vector<int64_t>{stride, stride}}})});
    g.nodes.push_back({p + "/BN",
                       "BatchNormalization",
                       "",
                       {p + "_c", p + ".scale", p + ".bias", p + ".mean", p + ".var"},
                       {out}});
  };
  conv_bn("a1", "x", "a1_out", 3, 1);
  g.nodes.push_back({"a/Relu1", "Relu", "", {"a1_out"}, {"a1_relu"}});
  conv_bn("a2", "a1_relu", "a2_out", 3, 1);
  g.nodes.push_back({"a/Add", "Add", "", {"x", "a2_out"}, {"a_sum"}});
  g.nodes.push_back({"a/Relu2", "Relu", "", {"a_sum"}, {"y"}});
  conv_bn("b1", "y", "b1_out", 3, 2);
  conv_bn("bd", "y", "bd_out", 1, 2);
  g.nodes.push_back({"b/Add", "Add", "", {"b1_out", "bd_out"}, {"b_sum"}});
  g.nodes.push_back({"b/Relu", "Relu", "", {"b_sum"}, {"z"}});
  g.outputs.push_back({"z", DType::kFloat32, {}});
  g.validate();
  return g;
}

}  // namespace tamp::test
