// The vectorised fp32 activation kernels (kernels/elementwise.h), through their ops, against
// the ops' scalar definitions run in float64, on every instruction set this CPU runs: values
// across the whole float range (and NaN, ±inf, ±0), lengths that end inside a vector, and the
// backward pass.
#include <tamp/autograd/apply.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/variable.h>

#include "support/simd_targets.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace tamp::test {
namespace {

struct Activation {
  const char* op;
  Attributes attrs;
  int opset = kMaxOpset;
};

const std::vector<Activation> kActivations = {
    {"Relu", {}},
    {"LeakyRelu", {{"alpha", 0.1f}}},
    {"Sigmoid", {}},
    {"Tanh", {}},
    {"Exp", {}},
    {"Erf", {}},
    {"HardSwish", {}},
    {"HardSigmoid", {{"alpha", 0.25f}, {"beta", 0.4f}}},
    {"Gelu", {}},
    {"Gelu", {{"approximate", std::string("tanh")}}},
    {"Clip", {{"min", 0.0f}, {"max", 6.0f}}, 6},   // bounds as attributes (opset 6): ReLU6
    {"Clip", {{"min", 2.0f}, {"max", -1.0f}}, 6},  // min > max: max wins
};

// 1,000 values from -100 to 100 (dense near 0, where the kernels switch formulas), the
// float extremes and the non-finite values; 1,037 in all, so the last vector is partial.
std::vector<float> inputs() {
  std::vector<float> v;
  for (int i = -500; i < 500; ++i)
    v.push_back(std::copysign(std::pow(std::abs(i) / 500.0f, 3.0f) * 100, float(i)));
  for (float x : {0.0f,
                  -0.0f,
                  0.9f,
                  -0.9f,
                  0.90001f,
                  3.92f,
                  3.93f,
                  -3.93f,
                  88.7f,
                  88.8f,
                  104.0f,
                  200.0f,
                  -200.0f,
                  3.0f,
                  -3.0f,
                  2.9999f,
                  -3.0001f,
                  1e-30f,
                  -1e-30f,
                  1e-40f,
                  std::numeric_limits<float>::max(),
                  std::numeric_limits<float>::lowest(),
                  std::numeric_limits<float>::infinity(),
                  -std::numeric_limits<float>::infinity(),
                  std::numeric_limits<float>::quiet_NaN()}) {
    v.push_back(x);
  }
  while (v.size() < 1037) v.push_back(0.5f * static_cast<float>(v.size() % 13) - 3);
  return v;
}

Tensor from(const std::vector<float>& v) {
  Tensor t = Tensor::empty({static_cast<int64_t>(v.size())}, DType::kFloat32);
  for (size_t i = 0; i < v.size(); ++i) t.data<float>()[i] = v[i];
  return t;
}

// float32 agrees with float64 within 4 float ulps, or 2e-7 absolute near 0; NaN with NaN.
void expect_matches(const Tensor& got, const Tensor& want, const std::vector<float>& x,
                    const char* what) {
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double g = got.at(i), w = static_cast<float>(want.at(i));
    if (std::isnan(w) || std::isinf(w)) {
      ASSERT_TRUE(std::isnan(w) ? std::isnan(g) : g == w)
          << what << " at x = " << x[i] << ": " << g << " vs " << w;
      continue;
    }
    ASSERT_NEAR(g, w, std::max(2e-7, 4 * std::numeric_limits<float>::epsilon() * std::abs(w)))
        << what << " at x = " << x[i];
  }
}

class ElementwiseKernel : public OnEverySimdTarget {};

TEST_P(ElementwiseKernel, ForwardAndBackwardMatchTheFloat64Definitions) {
  const std::vector<float> x = inputs();
  std::vector<float> seed(x.size());
  for (size_t i = 0; i < x.size(); ++i) seed[i] = std::cos(static_cast<float>(i));
  for (const Activation& a : kActivations) {
    SCOPED_TRACE(a.op);
    Variable x32(from(x), true), x64(from(x).to(DType::kFloat64), true);
    Variable y32 = apply1(a.op, {x32}, a.attrs, {.opset = a.opset});
    Variable y64 = apply1(a.op, {x64}, a.attrs, {.opset = a.opset});
    expect_matches(y32.value(), y64.value(), x, "forward");
    backward({y32}, {from(seed)});
    backward({y64}, {from(seed).to(DType::kFloat64)});
    // Where float32's forward overflowed (Exp past 88.7), its backward is inf by definition
    // while float64's is finite: compared only where the float32 output is finite.
    Tensor g32 = x32.grad(), g64 = x64.grad();
    for (int64_t i = 0; i < g32.numel(); ++i) {
      if (std::isinf(y32.value().at(i))) g32.data<float>()[i] = 0, g64.data<double>()[i] = 0;
    }
    expect_matches(g32, g64, x, "backward");
  }
}

TAMP_ON_EVERY_SIMD_TARGET(ElementwiseKernel);

}  // namespace
}  // namespace tamp::test
