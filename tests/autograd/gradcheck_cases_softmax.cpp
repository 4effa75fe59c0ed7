// Gradient cases for softmax.cpp and dropout.cpp.
#include "autograd/gradcheck.h"

namespace tamp::test {

TAMP_GRAD_CASES(softmax_cases) {
  std::vector<GradCase> cases;
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    const std::string o = op;
    cases.push_back({.op = o, .inputs = {uniform({3, 4, 5}, -3, 3, 1)}, .label = "last_axis"});
    cases.push_back({.op = o,
                     .inputs = {uniform({3, 4, 5}, -3, 3, 2)},
                     .attrs = {{"axis", int64_t{1}}},
                     .label = "middle_axis"});
    cases.push_back({.op = o,
                     .inputs = {uniform({3, 4, 5}, -3, 3, 3)},
                     .attrs = {{"axis", int64_t{0}}},
                     .label = "first_axis"});
    // Strided columns wider than one kernel block (256).
    cases.push_back({.op = o,
                     .inputs = {uniform({2, 3, 300}, -3, 3, 4)},
                     .attrs = {{"axis", int64_t{-2}}},
                     .label = "wide_inner",
                     .rtol = 1e-4});
    // Before opset 13 the input is coerced to 2-D at axis (default 1).
    cases.push_back({.op = o,
                     .inputs = {uniform({3, 4, 5}, -3, 3, 5)},
                     .label = "opset11_default",
                     .opset = 11});
    cases.push_back({.op = o,
                     .inputs = {uniform({3, 4, 5}, -3, 3, 6)},
                     .attrs = {{"axis", int64_t{2}}},
                     .label = "opset11_axis2",
                     .opset = 11});
    cases.push_back({.op = o,
                     .inputs = {uniform({3, 4, 5}, -3, 3, 7)},
                     .attrs = {{"axis", int64_t{0}}},
                     .label = "opset11_axis0",
                     .opset = 11});
  }
  return cases;
}

TAMP_GRAD_CASES(dropout_cases) {
  const Tensor ratio = Tensor::scalar(0.3, DType::kFloat32);
  return {
      {.op = "Dropout",
       .inputs = {uniform({4, 50}, -1, 1, 1), ratio},
       .label = "train",
       .opset = 13,
       .training = true},
      {.op = "Dropout",
       .inputs = {uniform({3, 7}, -1, 1, 2), ratio, Tensor::scalar(1, DType::kBool)},
       .label = "training_mode_input",
       .opset = 13},
      {.op = "Dropout",
       .inputs = {uniform({5, 9}, -1, 1, 3)},
       .attrs = {{"ratio", 0.6f}},
       .label = "opset11_train",
       .opset = 11,
       .training = true},
      {.op = "Dropout", .inputs = {uniform({3, 4}, -1, 1, 4)}, .label = "eval"},
  };
}

}  // namespace tamp::test
