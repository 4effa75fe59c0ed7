// Shared by the tuning tests: synthetic tuning problems with a known optimum, and a small
// trained Fashion-MNIST MLP made range-hostile (one hidden channel scaled up, the next layer
// scaled down: the float function is unchanged, per-tensor uint8 activations are not).
#pragma once

#include <tamp/io/idx.h>
#include <tamp/io/onnx_import.h>
#include <tamp/scheduler/trainer.h>
#include <tamp/scheduler/tuning/problem.h>

#include "support/ort_runner.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace tamp::test {

inline const nn::TrainTest& fashion_mnist() {
  static const nn::TrainTest data = io::fashion_mnist("/usr/share/datasets/fashion-mnist");
  return data;
}

// Ops that each cost `penalty[i]` accuracy when quantized; an op in fp32 costs 4 size units,
// quantized 1. The smallest config meeting a criterion keeps the big-penalty ops in fp32.
class FallbackToy : public tuning::TuningProblem {
 public:
  explicit FallbackToy(std::vector<double> penalty, std::vector<std::string> options = {})
      : penalty_(std::move(penalty)) {
    for (size_t i = 0; i < penalty_.size(); ++i) {
      space_.add({.name = "op" + std::to_string(i) + ":quantize",
                  .target = "op" + std::to_string(i),
                  .knob = "quantize",
                  .kind = tuning::DimensionKind::kFallback,
                  .values = {"int8", "fp32"}});
    }
    for (size_t i = 0; i < penalty_.size() && !options.empty(); ++i) {
      space_.add({.name = "op" + std::to_string(i) + ":calibration",
                  .target = "op" + std::to_string(i),
                  .knob = "calibration",
                  .values = options,
                  .parent = static_cast<int>(i)});
    }
  }
  const tuning::TuningSpace& space() const override { return space_; }
  tuning::Outcome baseline() override { return {1.0, 4.0 * static_cast<double>(penalty_.size())}; }
  tuning::Outcome evaluate(const tuning::Config& c) override {
    ++evaluations;
    double acc = 1, size = 0;
    for (size_t i = 0; i < penalty_.size(); ++i) {
      const bool q = c[i] == 0;
      // a non-default option halves the penalty of a quantized op
      const bool option = penalty_.size() < c.size() && c[penalty_.size() + i] != 0;
      if (q) acc -= option ? penalty_[i] / 2 : penalty_[i];
      size += q ? 1 : 4;
    }
    return {acc + accuracy_offset, size};
  }
  std::map<int, double> quantization_error() override {
    std::map<int, double> m;
    for (size_t i = 0; i < penalty_.size(); ++i) m[static_cast<int>(i)] = penalty_[i];
    return m;
  }
  int evaluations = 0;
  double accuracy_offset = 0;  // < 0 makes every config miss a tight criterion

 private:
  std::vector<double> penalty_;
  tuning::TuningSpace space_;
};

// Every config meets the criterion; the objective is a separable bowl over `dims` ordinal
// dimensions of `levels` values with its minimum 1 at `target`.
class BowlToy : public tuning::TuningProblem {
 public:
  BowlToy(int dims, int levels, std::vector<int> target) : target_(std::move(target)) {
    std::vector<std::string> values;
    for (int v = 0; v < levels; ++v) values.push_back(std::to_string(v));
    for (int d = 0; d < dims; ++d) {
      space_.add({.name = "x" + std::to_string(d),
                  .target = "x" + std::to_string(d),
                  .knob = "level",
                  .kind = tuning::DimensionKind::kUser,
                  .values = values});
    }
  }
  const tuning::TuningSpace& space() const override { return space_; }
  tuning::Outcome baseline() override { return {1.0, 1.0}; }
  tuning::Outcome evaluate(const tuning::Config& c) override {
    ++evaluations;
    double f = 1;
    for (size_t d = 0; d < c.size(); ++d) f += (c[d] - target_[d]) * (c[d] - target_[d]);
    return {1.0, f};
  }
  int evaluations = 0;

 private:
  std::vector<int> target_;
  tuning::TuningSpace space_;
};

// tests/data/models/mlp.onnx trained `steps` SGD steps on Fashion-MNIST (the file is
// untrained), then made range-hostile when `hostile`: hidden channel 0 of the first Gemm
// scaled by `factor`, its column in the second Gemm divided by it.
inline nn::Graph trained_mlp(int64_t steps, bool hostile, float factor = 300.0f) {
  nn::GraphModule m(io::load_onnx_graph(source_dir() + "/tests/data/models/mlp.onnx"));
  Trainer(m, {},
          {.train = fashion_mnist().train,
           .epochs = 1,
           .max_steps_per_epoch = steps,
           .batch_size = 64,
           .optimizer = SGD{.lr = 0.05, .momentum = 0.9}})
      .run();
  nn::Graph g = m.export_graph();
  if (!hostile) return g;
  std::vector<const nn::Node*> gemms;
  for (const auto& n : g.nodes)
    if (n.op_type == "Gemm") gemms.push_back(&n);
  EXPECT_GE(gemms.size(), 2u);
  Tensor w1 = g.initializers.at(gemms[0]->inputs[1]).clone();  // [512, 784], transB = 1
  Tensor b1 = g.initializers.at(gemms[0]->inputs[2]).clone();
  Tensor w2 = g.initializers.at(gemms[1]->inputs[1]).clone();  // [256, 512]
  EXPECT_EQ(gemms[0]->attrs->i("transB", 0), 1);
  for (int64_t k = 0; k < w1.dim(1); ++k) w1.data<float>()[k] *= factor;
  b1.data<float>()[0] *= factor;
  for (int64_t r = 0; r < w2.dim(0); ++r) w2.data<float>()[r * w2.dim(1)] /= factor;
  const std::string n1 = gemms[0]->inputs[1], nb = gemms[0]->inputs[2], n2 = gemms[1]->inputs[1];
  g.initializers[n1] = w1;
  g.initializers[nb] = b1;
  g.initializers[n2] = w2;
  return g;
}

}  // namespace tamp::test
