// Gradient cases for unary.cpp, binary.cpp, prelu.cpp, variadic.cpp and matmul.cpp.
#include "autograd/gradcheck.h"

namespace tamp::test {

TAMP_GRAD_CASES(unary_cases) {
  const Shape s{3, 4};
  return {
      {.op = "Abs", .inputs = {uniform(s, -2, 2, 1, 0.05)}},
      {.op = "Cos", .inputs = {uniform(s, -3, 3, 2)}},
      {.op = "Elu", .inputs = {uniform(s, -2, 2, 3, 0.05)}, .attrs = {{"alpha", 0.7f}}},
      {.op = "Erf", .inputs = {uniform(s, -2, 2, 4)}},
      {.op = "Exp", .inputs = {uniform(s, -2, 2, 5)}},
      {.op = "Gelu", .inputs = {uniform(s, -3, 3, 18)}, .label = "erf", .opset = 20},
      {.op = "Gelu",
       .inputs = {uniform(s, -3, 3, 19)},
       .attrs = {{"approximate", std::string("tanh")}},
       .label = "tanh",
       .opset = 20},
      {.op = "HardSigmoid", .inputs = {uniform(s, -4, 4, 6, 0.05, {-2.5, 2.5})}},
      {.op = "HardSwish", .inputs = {uniform(s, -5, 5, 7, 0.05, {-3, 3})}},
      {.op = "LeakyRelu", .inputs = {uniform(s, -2, 2, 8, 0.05)}, .attrs = {{"alpha", 0.1f}}},
      {.op = "Log", .inputs = {uniform(s, 0.2, 3, 9)}},
      {.op = "Mish", .inputs = {uniform(s, -3, 3, 20)}, .opset = 18},
      {.op = "Neg", .inputs = {uniform(s, -2, 2, 10)}},
      {.op = "Reciprocal", .inputs = {uniform(s, 0.5, 2, 11)}},
      {.op = "Relu", .inputs = {uniform(s, -2, 2, 12, 0.05)}},
      {.op = "Selu", .inputs = {uniform(s, -2, 2, 21, 0.05)}},
      {.op = "Selu",
       .inputs = {uniform(s, -2, 2, 22, 0.05)},
       .attrs = {{"alpha", 1.5f}, {"gamma", 0.8f}},
       .label = "attributes"},
      {.op = "Sigmoid", .inputs = {uniform(s, -4, 4, 13)}},
      {.op = "Sin", .inputs = {uniform(s, -3, 3, 14)}},
      {.op = "Softplus", .inputs = {uniform(s, -4, 4, 15)}},
      {.op = "Sqrt", .inputs = {uniform(s, 0.2, 3, 16)}},
      {.op = "Tanh", .inputs = {uniform(s, -2, 2, 17)}},
  };
}

TAMP_GRAD_CASES(binary_cases) {
  return {
      {.op = "Add",
       .inputs = {uniform({2, 3, 4}, -1, 1, 1), uniform({3, 1}, -1, 1, 2)},
       .label = "broadcast"},
      {.op = "Sub",
       .inputs = {uniform({4}, -1, 1, 3), uniform({2, 3, 4}, -1, 1, 4)},
       .label = "broadcast"},
      {.op = "Mul",
       .inputs = {uniform({2, 3, 4}, -1, 1, 5), uniform({2, 1, 4}, -1, 1, 6)},
       .label = "broadcast"},
      {.op = "Mul",
       .inputs = {uniform({3, 4}, -1, 1, 7), uniform({}, -1, 1, 8)},
       .label = "scalar"},
      {.op = "Div",
       .inputs = {uniform({2, 3}, -1, 1, 9), uniform({3}, 0.5, 2, 10)},
       .label = "broadcast"},
      {.op = "Pow", .inputs = {uniform({2, 3}, 0.5, 2, 11), uniform({2, 3}, -2, 2, 12)}},
      {.op = "Pow",
       .inputs = {uniform({2, 3}, -2, 2, 13), Tensor::scalar(3, DType::kFloat64)},
       .wrt = {0},
       .label = "integer_exponent"},
      // Opset 6: B aligned with A at `axis` (numpy would align [3, 4] with A's last dims).
      {.op = "Add",
       .inputs = {uniform({2, 3, 4, 5}, -1, 1, 14), uniform({3, 4}, -1, 1, 15)},
       .attrs = {{"broadcast", int64_t{1}}, {"axis", int64_t{1}}},
       .label = "legacy_axis",
       .opset = 6},
      {.op = "Sub",
       .inputs = {uniform({2, 3, 4}, -1, 1, 16), uniform({2}, -1, 1, 17)},
       .attrs = {{"broadcast", int64_t{1}}, {"axis", int64_t{0}}},
       .label = "legacy_axis",
       .opset = 6},
      {.op = "Mul",
       .inputs = {uniform({2, 3, 4}, -1, 1, 18), uniform({3, 4}, -1, 1, 19)},
       .attrs = {{"broadcast", int64_t{1}}, {"axis", int64_t{1}}},
       .label = "legacy_axis",
       .opset = 6},
      {.op = "Div",
       .inputs = {uniform({2, 3, 4}, -1, 1, 20), uniform({3}, 0.5, 2, 21)},
       .attrs = {{"broadcast", int64_t{1}}, {"axis", int64_t{1}}},
       .label = "legacy_axis",
       .opset = 6},
      {.op = "Pow",
       .inputs = {uniform({2, 3, 2}, 0.5, 2, 22), uniform({2, 3}, -2, 2, 23)},
       .attrs = {{"broadcast", int64_t{1}}, {"axis", int64_t{0}}},
       .label = "legacy_axis",
       .opset = 6},
  };
}

TAMP_GRAD_CASES(prelu_cases) {
  return {
      {.op = "PRelu",
       .inputs = {uniform({2, 3, 4}, -2, 2, 1, 0.05), uniform({3, 1}, 0.1, 0.5, 2)},
       .label = "broadcast"},
      {.op = "PRelu",
       .inputs = {uniform({2, 3, 4}, -2, 2, 3, 0.05), uniform({4}, 0.1, 0.5, 4)},
       .label = "last_axis"},
      // Opset 6: one slope per channel (axis 1), whatever X's rank.
      {.op = "PRelu",
       .inputs = {uniform({2, 3, 2, 2}, -2, 2, 5, 0.05), uniform({3}, 0.1, 0.5, 6)},
       .label = "channels_opset6",
       .opset = 6},
  };
}

TAMP_GRAD_CASES(variadic_cases) {
  // Independent draws never come within the step of each other: no maximum changes hands.
  const Tensor a = uniform({2, 3}, -1, 1, 1), b = uniform({3}, -1, 1, 2),
               c = uniform({2, 1}, -1, 1, 3);
  return {
      {.op = "Max", .inputs = {a, b, c}, .label = "broadcast"},
      {.op = "Min", .inputs = {a, b, c}, .label = "broadcast"},
      {.op = "Max", .inputs = {uniform({3, 4}, -1, 1, 4)}, .label = "single"},
      {.op = "Sum", .inputs = {a, b, c}, .label = "broadcast"},
      {.op = "Mean", .inputs = {a, b, c}, .label = "broadcast"},
  };
}

TAMP_GRAD_CASES(matmul_cases) {
  return {
      {.op = "Gemm",
       .inputs = {uniform({3, 4}, -1, 1, 1), uniform({4, 5}, -1, 1, 2), uniform({5}, -1, 1, 3)}},
      {.op = "Gemm",
       .inputs = {uniform({4, 3}, -1, 1, 4), uniform({5, 4}, -1, 1, 5), uniform({3, 1}, -1, 1, 6)},
       .attrs = {{"transA", int64_t{1}}, {"transB", int64_t{1}}, {"alpha", 0.5f}, {"beta", 2.0f}},
       .label = "transposed"},
      {.op = "Gemm",
       .inputs = {uniform({3, 4}, -1, 1, 7), uniform({5, 4}, -1, 1, 8)},
       .attrs = {{"transB", int64_t{1}}},
       .label = "no_bias"},
      {.op = "MatMul",
       .inputs = {uniform({3, 4}, -1, 1, 9), uniform({4, 2}, -1, 1, 10)},
       .label = "2d"},
      {.op = "MatMul",
       .inputs = {uniform({2, 3, 4}, -1, 1, 11), uniform({4, 2}, -1, 1, 12)},
       .label = "shared_b"},
      {.op = "MatMul",
       .inputs = {uniform({2, 1, 3, 4}, -1, 1, 13), uniform({3, 4, 2}, -1, 1, 14)},
       .label = "batch_broadcast"},
      {.op = "MatMul",
       .inputs = {uniform({4}, -1, 1, 15), uniform({2, 4, 3}, -1, 1, 16)},
       .label = "vector_a"},
      {.op = "MatMul",
       .inputs = {uniform({2, 3, 4}, -1, 1, 17), uniform({4}, -1, 1, 18)},
       .label = "vector_b"},
  };
}

}  // namespace tamp::test
