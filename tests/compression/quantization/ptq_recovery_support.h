// Shared by the SmoothQuant, AdaRound and sensitivity tests: random data, calibration through
// the Trainer, small hand-built graphs and output comparisons.
#pragma once

#include <tamp/autograd/random.h>
#include <tamp/autograd/variable.h>
#include <tamp/compression/quantization/ptq/static_quantization.h>
#include <tamp/nn/dataset.h>
#include <tamp/nn/graph_module.h>
#include <tamp/scheduler/trainer.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

namespace tamp::test::ptq {

inline Tensor randn(Shape shape, uint64_t seed, float scale = 1.0f) {
  Generator g(seed);
  Tensor t = Tensor::empty(std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = scale * g.normal();
  return t;
}

// A dataset of x with zero labels (calibration needs no labels).
inline std::shared_ptr<nn::Dataset> unlabelled(const Tensor& x) {
  return std::make_shared<nn::TensorDataset>(x, Tensor::zeros({x.dim(0)}, DType::kInt64));
}

// Runs one calibration-only stage of `components` over x.
inline void calibrate(nn::GraphModule& m,
                      std::vector<std::shared_ptr<compression::Component>> components,
                      const Tensor& x, int64_t batch = 16) {
  TrainOptions t;
  t.train = unlabelled(x);
  t.batch_size = batch;
  t.calibration_batches = (x.dim(0) + batch - 1) / batch;
  Trainer(m, std::move(components), t).run();
}

inline Tensor run(nn::GraphModule& m, const Tensor& x) {
  NoGradGuard no_grad;
  m.eval();
  const std::string in = m.graph().inputs.at(0).name, out = m.graph().outputs.at(0).name;
  return m.forward({{in, Variable(x)}}).at(out).value();
}

inline Tensor run(const nn::Graph& g, const Tensor& x) {
  nn::GraphModule m(g);
  return run(m, x);
}

inline double mse(const Tensor& a, const Tensor& b) {
  double s = 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    s += std::pow(static_cast<double>(a.data<float>()[i]) - b.data<float>()[i], 2);
  return s / static_cast<double>(a.numel());
}

// max |a - b| / max |b|.
inline double relative_max_error(const Tensor& a, const Tensor& b) {
  double d = 0, m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    d = std::max(d, std::abs(static_cast<double>(a.data<float>()[i]) - b.data<float>()[i]));
    m = std::max(m, std::abs(static_cast<double>(b.data<float>()[i])));
  }
  return d / m;
}

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  double d = 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    d = std::max(d, std::abs(static_cast<double>(a.data<float>()[i]) - b.data<float>()[i]));
  return d;
}

// Rows whose argmax differs (ORT and tamp may break a tie within one output step apart).
inline int64_t argmax_differences(const Tensor& a, const Tensor& b) {
  const int64_t n = a.dim(0), c = a.numel() / n;
  int64_t diff = 0;
  for (int64_t r = 0; r < n; ++r) {
    const float* pa = a.data<float>() + r * c;
    const float* pb = b.data<float>() + r * c;
    diff += (std::max_element(pa, pa + c) - pa) != (std::max_element(pb, pb + c) - pb);
  }
  return diff;
}

// The scale of a QDQ graph's output DequantizeLinear: one output quantization step, what ORT
// and tamp's FakeQuantize simulation may differ by.
inline double output_step(const nn::Graph& qdq) {
  const int p = qdq.producer(qdq.outputs.at(0).name);
  EXPECT_GE(p, 0);
  const nn::Node& n = qdq.nodes.at(static_cast<size_t>(p));
  EXPECT_EQ(n.op_type, "DequantizeLinear");
  return qdq.initializers.at(n.inputs.at(1)).at(0);
}

// Static PTQ (min-max activation ranges, as `tamp quantize` calibrates by default) of a copy
// of g calibrated on x; returns the FakeQuantize model.
inline std::shared_ptr<nn::GraphModule> quantized(const nn::Graph& g, const Tensor& x,
                                                  compression::QuantizerOptions o = {}) {
  o.activations.observer.kind = compression::ObserverKind::kMinMax;
  nn::Graph copy = g;
  for (auto& [name, t] : copy.initializers) t = t.clone();
  auto m = std::make_shared<nn::GraphModule>(std::move(copy));
  calibrate(*m, {std::make_shared<compression::StaticQuantization>(o)}, x);
  return m;
}

}  // namespace tamp::test::ptq
