// Gradient cases for reduce.cpp: every Reduce* op with keepdims 0 and 1, one and several
// axes and all axes; ties for ReduceMax/ReduceMin and zeros for ReduceProd.
#include "autograd/gradcheck.h"

namespace tamp::test {

namespace {

std::vector<GradCase> variants(const std::string& op, const Tensor& x) {
  using V = std::vector<int64_t>;
  return {
      {.op = op, .inputs = {x}, .attrs = {{"axes", V{1}}}, .label = "axis1_keepdims"},
      {.op = op,
       .inputs = {x},
       .attrs = {{"axes", V{0, -1}}, {"keepdims", int64_t{0}}},
       .label = "outer_axes"},
      {.op = op, .inputs = {x}, .attrs = {{"keepdims", int64_t{0}}}, .label = "all_axes"},
  };
}

}  // namespace

TAMP_GRAD_CASES(reduce_cases) {
  std::vector<GradCase> cases;
  auto add = [&](std::vector<GradCase> more) {
    cases.insert(cases.end(), more.begin(), more.end());
  };
  const Shape s{2, 3, 4};
  add(variants("ReduceMean", uniform(s, -1, 1, 1)));
  add(variants("ReduceMax", uniform(s, -1, 1, 2)));
  add(variants("ReduceMin", uniform(s, -1, 1, 3)));
  add(variants("ReduceProd", uniform(s, 0.5, 1.5, 4)));
  add(variants("ReduceL1", uniform(s, -1, 1, 5, 0.05)));
  add(variants("ReduceL2", uniform(s, -1, 1, 6)));
  add(variants("ReduceSumSquare", uniform(s, -1, 1, 7)));
  add(variants("ReduceLogSum", uniform(s, 0.5, 2, 8)));
  add(variants("ReduceLogSumExp", uniform(s, -3, 3, 9)));
  add({
      {.op = "ReduceSum",
       .inputs = {uniform(s, -1, 1, 10), constant_i64({2}, {2, 0})},
       .label = "axes_input"},
      {.op = "ReduceSum",
       .inputs = {uniform(s, -1, 1, 11), constant_i64({1}, {1})},
       .attrs = {{"keepdims", int64_t{0}}},
       .label = "axis1_no_keepdims"},
      {.op = "ReduceSum", .inputs = {uniform(s, -1, 1, 12)}, .label = "all_axes"},
      {.op = "ReduceSum",
       .inputs = {uniform(s, -1, 1, 13), constant_i64({0}, {})},
       .attrs = {{"noop_with_empty_axes", int64_t{1}}},
       .label = "noop"},
      // Opset 18: axes as an input for every Reduce op; without axes and with
      // noop_with_empty_axes, only the elementwise part (|x| for L2) applies.
      {.op = "ReduceL2",
       .inputs = {uniform(s, -1, 1, 15, 0.05), constant_i64({0}, {})},
       .attrs = {{"noop_with_empty_axes", int64_t{1}}},
       .label = "noop_opset18",
       .opset = 18},
      {.op = "ReduceLogSumExp",
       .inputs = {uniform(s, -1, 1, 16), constant_i64({1}, {-1})},
       .label = "axes_input_opset18",
       .opset = 18},
      {.op = "ReduceSum",
       .inputs = {uniform(s, -1, 1, 14)},
       .attrs = {{"axes", std::vector<int64_t>{-2}}},
       .label = "opset11_attribute",
       .opset = 11},
      // Two-way ties: the even split equals the central difference (half the step each way).
      {.op = "ReduceMax",
       .inputs = {Tensor::from_vector<double>({2, 3}, {0.5, 0.9, 0.9, -0.3, -0.1, -0.7})},
       .attrs = {{"axes", std::vector<int64_t>{1}}},
       .label = "tie"},
      {.op = "ReduceMin",
       .inputs = {Tensor::from_vector<double>({2, 3}, {0.5, 0.1, 0.1, -0.3, -0.1, -0.7})},
       .attrs = {{"axes", std::vector<int64_t>{1}}},
       .label = "tie"},
      // The product is linear in each factor, so differences are exact even at zero.
      {.op = "ReduceProd",
       .inputs = {Tensor::from_vector<double>({2, 3}, {0.5, 0.0, 1.5, 0.0, 2.0, 0.0})},
       .attrs = {{"axes", std::vector<int64_t>{1}}},
       .label = "zeros"},
  });
  return cases;
}

}  // namespace tamp::test
