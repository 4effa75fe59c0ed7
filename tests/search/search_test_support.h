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

}  // namespace tamp::test
