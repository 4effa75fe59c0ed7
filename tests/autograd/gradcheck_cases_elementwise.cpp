// Gradient cases for unary.cpp, binary.cpp and matmul.cpp.
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
      {.op = "HardSigmoid", .inputs = {uniform(s, -4, 4, 6, 0.05, {-2.5, 2.5})}},
      {.op = "HardSwish", .inputs = {uniform(s, -5, 5, 7, 0.05, {-3, 3})}},
      {.op = "LeakyRelu", .inputs = {uniform(s, -2, 2, 8, 0.05)}, .attrs = {{"alpha", 0.1f}}},
      {.op = "Log", .inputs = {uniform(s, 0.2, 3, 9)}},
      {.op = "Neg", .inputs = {uniform(s, -2, 2, 10)}},
      {.op = "Reciprocal", .inputs = {uniform(s, 0.5, 2, 11)}},
      {.op = "Relu", .inputs = {uniform(s, -2, 2, 12, 0.05)}},
      {.op = "Sigmoid", .inputs = {uniform(s, -4, 4, 13)}},
      {.op = "Sin", .inputs = {uniform(s, -3, 3, 14)}},
      {.op = "Softplus", .inputs = {uniform(s, -4, 4, 15)}},
      {.op = "Sqrt", .inputs = {uniform(s, 0.2, 3, 16)}},
      {.op = "Tanh", .inputs = {uniform(s, -2, 2, 17)}},
  };
}

TAMP_GRAD_CASES(binary_cases) {
  return {
      {.op = "Add", .inputs = {uniform({2, 3, 4}, -1, 1, 1), uniform({3, 1}, -1, 1, 2)}, .label = "broadcast"},
      {.op = "Sub", .inputs = {uniform({4}, -1, 1, 3), uniform({2, 3, 4}, -1, 1, 4)}, .label = "broadcast"},
      {.op = "Mul", .inputs = {uniform({2, 3, 4}, -1, 1, 5), uniform({2, 1, 4}, -1, 1, 6)}, .label = "broadcast"},
      {.op = "Mul", .inputs = {uniform({3, 4}, -1, 1, 7), uniform({}, -1, 1, 8)}, .label = "scalar"},
      {.op = "Div", .inputs = {uniform({2, 3}, -1, 1, 9), uniform({3}, 0.5, 2, 10)}, .label = "broadcast"},
      {.op = "Pow", .inputs = {uniform({2, 3}, 0.5, 2, 11), uniform({2, 3}, -2, 2, 12)}},
      {.op = "Pow", .inputs = {uniform({2, 3}, -2, 2, 13), Tensor::scalar(3, DType::kFloat64)},
       .wrt = {0}, .label = "integer_exponent"},
  };
}

TAMP_GRAD_CASES(matmul_cases) {
  return {
      {.op = "Gemm", .inputs = {uniform({3, 4}, -1, 1, 1), uniform({4, 5}, -1, 1, 2), uniform({5}, -1, 1, 3)}},
      {.op = "Gemm",
       .inputs = {uniform({4, 3}, -1, 1, 4), uniform({5, 4}, -1, 1, 5), uniform({3, 1}, -1, 1, 6)},
       .attrs = {{"transA", int64_t{1}}, {"transB", int64_t{1}}, {"alpha", 0.5f}, {"beta", 2.0f}},
       .label = "transposed"},
      {.op = "Gemm", .inputs = {uniform({3, 4}, -1, 1, 7), uniform({5, 4}, -1, 1, 8)},
       .attrs = {{"transB", int64_t{1}}}, .label = "no_bias"},
      {.op = "MatMul", .inputs = {uniform({3, 4}, -1, 1, 9), uniform({4, 2}, -1, 1, 10)}, .label = "2d"},
      {.op = "MatMul", .inputs = {uniform({2, 3, 4}, -1, 1, 11), uniform({4, 2}, -1, 1, 12)}, .label = "shared_b"},
      {.op = "MatMul", .inputs = {uniform({2, 1, 3, 4}, -1, 1, 13), uniform({3, 4, 2}, -1, 1, 14)},
       .label = "batch_broadcast"},
      {.op = "MatMul", .inputs = {uniform({4}, -1, 1, 15), uniform({2, 4, 3}, -1, 1, 16)}, .label = "vector_a"},
      {.op = "MatMul", .inputs = {uniform({2, 3, 4}, -1, 1, 17), uniform({4}, -1, 1, 18)}, .label = "vector_b"},
  };
}

}  // namespace tamp::test
