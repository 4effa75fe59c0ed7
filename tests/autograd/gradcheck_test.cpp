#include "autograd/gradcheck.h"

#include <tamp/autograd/apply.h>
#include <tamp/autograd/variable.h>

#include <gtest/gtest.h>

#include <cmath>
#include <set>

namespace tamp::test {

std::vector<GradCase>& grad_cases() {
  static std::vector<GradCase> cases;
  return cases;
}

Tensor uniform(const Shape& shape, double lo, double hi, uint64_t seed, double gap,
               std::vector<double> kinks) {
  Generator g(seed);
  Tensor t = Tensor::empty(shape, DType::kFloat64);
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v;
    bool near_kink;
    do {
      v = lo + (hi - lo) * g.uniform_double();
      near_kink = false;
      for (double k : kinks) near_kink |= std::abs(v - k) < gap;
    } while (near_kink);
    p[i] = v;
  }
  return t;
}

Tensor constant_i64(const Shape& shape, std::vector<int64_t> values) {
  return Tensor::from_vector<int64_t>(shape, values);
}

namespace {

std::string case_name(const GradCase& c) { return c.op + (c.label.empty() ? "" : "/" + c.label); }

// Sum over float outputs of <projection, output>: a scalar whose gradient exercises every
// element of every output with a distinct weight.
struct Probe {
  const GradCase& c;
  const OpDef& op;
  std::vector<Tensor> projections;

  std::vector<Variable> forward(const std::vector<Variable>& inputs) const {
    Generator rng(1234);  // the same random draws on every call (Dropout)
    return apply(op, inputs, std::make_shared<const Attributes>(c.attrs),
                 {c.opset, c.training, &rng});
  }

  std::vector<Tensor> outputs(const std::vector<Tensor>& inputs) const {
    if (c.surrogate) return c.surrogate(inputs, c.inputs);
    std::vector<Variable> vars;
    for (const auto& t : inputs) vars.emplace_back(t, false);
    NoGradGuard no_grad;
    std::vector<Tensor> out;
    for (auto& v : forward(vars)) out.push_back(v.value());
    return out;
  }

  double loss(const std::vector<Tensor>& inputs) const {
    const auto outs = outputs(inputs);
    double total = 0;
    for (size_t k = 0; k < outs.size() && k < projections.size(); ++k) {
      if (!projections[k].defined()) continue;
      const double* y = outs[k].data<double>();
      const double* r = projections[k].data<double>();
      for (int64_t i = 0; i < projections[k].numel(); ++i) total += y[i] * r[i];
    }
    return total;
  }
};

void check_case(const GradCase& c) {
  SCOPED_TRACE(case_name(c));
  const OpDef& op = OpRegistry::builtin().get(c.domain, c.op, c.opset);
  std::vector<int> wrt = c.wrt;
  if (wrt.empty()) {
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      if (c.inputs[i].defined() && c.inputs[i].dtype() == DType::kFloat64)
        wrt.push_back(static_cast<int>(i));
    }
  }
  ASSERT_FALSE(wrt.empty()) << "no float64 input to check";

  std::vector<Variable> vars;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const bool req = std::find(wrt.begin(), wrt.end(), static_cast<int>(i)) != wrt.end();
    vars.push_back(c.inputs[i].defined() ? Variable(c.inputs[i].clone(), req) : Variable());
  }
  Probe probe{c, op, {}};
  auto outs = probe.forward(vars);
  std::vector<Variable> roots;
  std::vector<Tensor> seeds;
  for (size_t k = 0; k < outs.size(); ++k) {
    if (!outs[k].requires_grad() || outs[k].dtype() != DType::kFloat64) {
      probe.projections.emplace_back();
      continue;
    }
    probe.projections.push_back(uniform(outs[k].shape(), -1, 1, 99 + k));
    roots.push_back(outs[k]);
    seeds.push_back(probe.projections.back());
  }
  ASSERT_FALSE(roots.empty()) << "the op recorded no differentiable output";
  if (c.surrogate) {  // the surrogate must agree with the op where it is anchored
    const auto ref = c.surrogate(c.inputs, c.inputs);
    for (size_t k = 0; k < roots.size() && k < ref.size(); ++k) {
      const double* a = outs[k].value().data<double>();
      const double* b = ref[k].data<double>();
      for (int64_t j = 0; j < ref[k].numel(); ++j)
        ASSERT_NEAR(a[j], b[j], 1e-12) << "surrogate differs at " << j;
    }
  }
  backward(roots, seeds);

  for (int i : wrt) {
    SCOPED_TRACE("input " + std::to_string(i));
    const Tensor& analytic = vars[i].grad();
    ASSERT_TRUE(analytic.defined()) << "no gradient reached the input";
    ASSERT_EQ(analytic.shape(), c.inputs[i].shape());
    std::vector<Tensor> xs;
    for (const auto& t : c.inputs) xs.push_back(t.defined() ? t.clone() : t);
    double* x = xs[i].data<double>();
    const double* a = analytic.data<double>();
    for (int64_t j = 0; j < xs[i].numel(); ++j) {
      const double orig = x[j];
      x[j] = orig + c.eps;
      const double up = probe.loss(xs);
      x[j] = orig - c.eps;
      const double down = probe.loss(xs);
      x[j] = orig;
      const double numeric = (up - down) / (2 * c.eps);
      ASSERT_NEAR(a[j], numeric, c.atol + c.rtol * std::abs(numeric)) << "element " << j;
    }
  }
}

}  // namespace

TEST(GradCheckCoverage, EveryDifferentiableOpHasACase) {
  std::set<std::string> covered;
  for (const auto& c : grad_cases()) covered.insert(c.domain + "::" + c.op);
  for (const auto& def : OpRegistry::builtin().ops()) {
    if (!def.differentiable()) continue;
    EXPECT_TRUE(covered.count(def.domain + "::" + def.type))
        << def.type << " (domain '" << def.domain
        << "') is differentiable but has no gradient case";
  }
}

class GradCheck : public ::testing::TestWithParam<size_t> {};

TEST_P(GradCheck, MatchesCentralDifferences) { check_case(grad_cases().at(GetParam())); }

// Named by op and label, not by position, so that adding a case renames no other; googletest
// stops with "Duplicate parameterized test name" when two cases of one op share a label.
INSTANTIATE_TEST_SUITE_P(Ops, GradCheck, ::testing::Range<size_t>(0, grad_cases().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           std::string name = case_name(grad_cases()[info.param]);
                           for (char& ch : name)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return name;
                         });

}  // namespace tamp::test
