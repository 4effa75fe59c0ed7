// Finite-difference gradient checks driven from the op table. Each op family adds its cases
// with TAMP_GRAD_CASES in a gradcheck_cases_<family>.cpp; gradcheck_test.cpp fails for any
// differentiable op of OpRegistry::builtin() that has no case.
//
//   TAMP_GRAD_CASES(relu_cases) {
//     return {{.op = "Relu", .inputs = {uniform({3, 4}, -1, 1, 1, 0.1)}}};
//   }
#pragma once

#include <tamp/autograd/attributes.h>
#include <tamp/autograd/op.h>

#include <functional>
#include <string>
#include <vector>

namespace tamp::test {

struct GradCase {
  std::string op;
  std::vector<Tensor> inputs;  // float64 for the inputs to check
  Attributes attrs = {};
  std::vector<int> wrt = {};  // inputs to differentiate; empty: every float64 input
  std::string label = {};     // tells cases of one op apart: the test is named OP_LABEL
  int opset = kMaxOpset;
  std::string domain = {};
  bool training = false;
  double eps = 1e-6;  // central-difference step
  double atol = 1e-6;
  double rtol = 1e-5;
  // For straight-through estimators, whose true derivative is zero almost everywhere: a
  // smooth surrogate (float64 outputs, given the perturbed inputs and the unperturbed
  // `base` inputs) that equals the op at `base` and whose derivative is the gradient the op
  // claims. Central differences are then taken of the surrogate.
  std::function<std::vector<Tensor>(const std::vector<Tensor>& inputs,
                                    const std::vector<Tensor>& base)>
      surrogate = {};
};

std::vector<GradCase>& grad_cases();

struct GradCaseRegistrar {
  explicit GradCaseRegistrar(const std::function<std::vector<GradCase>()>& make) {
    for (auto& c : make()) grad_cases().push_back(std::move(c));
  }
};

#define TAMP_GRAD_CASES(name)                                      \
  static std::vector<::tamp::test::GradCase> name();               \
  static ::tamp::test::GradCaseRegistrar name##_registrar_{&name}; \
  static std::vector<::tamp::test::GradCase> name()

// Deterministic float64 tensors. `gap` keeps every value at least that far from each of
// `kinks` (Relu at 0, Clip at its bounds...), so central differences never straddle one.
Tensor uniform(const Shape& shape, double lo, double hi, uint64_t seed, double gap = 0,
               std::vector<double> kinks = {0.0});
Tensor constant_i64(const Shape& shape, std::vector<int64_t> values);

}  // namespace tamp::test
