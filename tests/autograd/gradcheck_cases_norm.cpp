// Gradient cases for batch_norm.cpp, group_norm.cpp and layer_norm.cpp. BatchNormalization's
// running statistics (inputs 3, 4) are not differentiated; in training its outputs 1-4 (new running
// and saved statistics) depend on X and are checked along with Y.
#include "autograd/gradcheck.h"

namespace tamp::test {

namespace {

std::vector<Tensor> bn_inputs(const Shape& x_shape, uint64_t seed) {
  const int64_t c = x_shape.size() >= 2 ? x_shape[1] : 1;
  return {uniform(x_shape, -2, 2, seed), uniform({c}, 0.5, 1.5, seed + 1),
          uniform({c}, -1, 1, seed + 2), uniform({c}, -0.5, 0.5, seed + 3),
          uniform({c}, 0.5, 2, seed + 4)};
}

}  // namespace

TAMP_GRAD_CASES(batch_norm_cases) {
  return {
      {.op = "BatchNormalization",
       .inputs = bn_inputs({4, 3, 2, 3}, 1),
       .attrs = {{"momentum", 0.8f}},
       .wrt = {0, 1, 2},
       .label = "train",
       .opset = 15,
       .training = true},
      {.op = "BatchNormalization",
       .inputs = bn_inputs({3, 2, 4}, 10),
       .attrs = {{"training_mode", int64_t{1}}},
       .wrt = {0, 1, 2},
       .label = "training_mode_attribute",
       .opset = 15},
      {.op = "BatchNormalization",
       .inputs = bn_inputs({5, 4}, 20),
       .wrt = {0, 1, 2},
       .label = "train_2d",
       .opset = 14,
       .training = true},
      {.op = "BatchNormalization",
       .inputs = bn_inputs({3, 2, 2, 2}, 30),
       .attrs = {{"epsilon", 0.01f}},
       .wrt = {0, 1, 2},
       .label = "train_opset9_saved_stats",
       .opset = 9,
       .training = true},
      {.op = "BatchNormalization",
       .inputs = bn_inputs({2, 3, 2, 2}, 40),
       .wrt = {0, 1, 2},
       .label = "eval",
       .opset = 15},
      {.op = "BatchNormalization",
       .inputs = bn_inputs({6}, 50),
       .wrt = {0, 1, 2},
       .label = "train_1d",
       .opset = 15,
       .training = true},
  };
}

TAMP_GRAD_CASES(layer_norm_cases) {
  const Tensor none;
  return {
      {.op = "LayerNormalization",
       .inputs = {uniform({3, 4, 5}, -2, 2, 1), uniform({5}, 0.5, 1.5, 2), uniform({5}, -1, 1, 3)},
       .label = "last_axis"},
      {.op = "LayerNormalization",
       .inputs = {uniform({3, 4, 5}, -2, 2, 4), uniform({4, 5}, 0.5, 1.5, 5),
                  uniform({4, 5}, -1, 1, 6)},
       .attrs = {{"axis", int64_t{1}}, {"epsilon", 1e-3f}},
       .label = "two_axes"},
      {.op = "LayerNormalization",
       .inputs = {uniform({2, 3, 4}, -2, 2, 7), uniform({4}, 0.5, 1.5, 8)},
       .label = "no_bias"},
      // stash_type 11 keeps Mean and InvStdDev in float64, so their gradients are checked too.
      {.op = "LayerNormalization",
       .inputs = {uniform({4, 6}, -2, 2, 9), uniform({6}, 0.5, 1.5, 10), uniform({6}, -1, 1, 11)},
       .attrs = {{"stash_type", int64_t{11}}},
       .label = "stats_outputs"},
      {.op = "LayerNormalization",
       .inputs = {uniform({2, 3, 4}, -2, 2, 12), uniform({1}, 0.5, 1.5, 13),
                  uniform({1}, -1, 1, 14)},
       .attrs = {{"axis", int64_t{-2}}},
       .label = "single_scale"},
  };
}

TAMP_GRAD_CASES(group_norm_cases) {
  return {
      {.op = "InstanceNormalization",
       .inputs = {uniform({2, 3, 4, 2}, -2, 2, 1), uniform({3}, 0.5, 1.5, 2),
                  uniform({3}, -1, 1, 3)},
       .attrs = {{"epsilon", 0.01f}}},
      {.op = "GroupNormalization",
       .inputs = {uniform({2, 4, 3}, -2, 2, 4), uniform({4}, 0.5, 1.5, 5), uniform({4}, -1, 1, 6)},
       .attrs = {{"num_groups", int64_t{2}}},
       .label = "per_channel_opset21",
       .opset = 21},
      {.op = "GroupNormalization",
       .inputs = {uniform({2, 6, 2, 2}, -2, 2, 7), uniform({3}, 0.5, 1.5, 8),
                  uniform({3}, -1, 1, 9)},
       .attrs = {{"num_groups", int64_t{3}}, {"epsilon", 0.001f}},
       .label = "per_group_opset18",
       .opset = 18},
  };
}

}  // namespace tamp::test
