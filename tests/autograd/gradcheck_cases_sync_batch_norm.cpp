// Gradient cases for synchronised BatchNorm (batch_norm.cpp with tamp_sync_group): one rank,
// whose cross-rank sum is the identity, so the synced forward and backward (the code path
// that sums over ranks) are checked against finite differences, running and saved
// statistics outputs included. sync_batch_norm_test.cpp checks two ranks against one process.
#include "autograd/gradcheck.h"

#include <tamp/autograd/cross_rank.h>

namespace tamp::test {

namespace {

const CrossRankGroup kOneRank([](Tensor&) {});

std::vector<Tensor> bn_inputs(const Shape& x_shape, uint64_t seed) {
  const int64_t c = x_shape.size() >= 2 ? x_shape[1] : 1;
  return {uniform(x_shape, -2, 2, seed), uniform({c}, 0.5, 1.5, seed + 1),
          uniform({c}, -1, 1, seed + 2), uniform({c}, -0.5, 0.5, seed + 3),
          uniform({c}, 0.5, 2, seed + 4)};
}

}  // namespace

TAMP_GRAD_CASES(sync_batch_norm_cases) {
  return {
      {.op = "BatchNormalization",
       .inputs = bn_inputs({4, 3, 2, 3}, 61),
       .attrs = {{"momentum", 0.8f}, {"tamp_sync_group", kOneRank.id()}},
       .wrt = {0, 1, 2},
       .label = "synced_train",
       .opset = 15,
       .training = true},
      {.op = "BatchNormalization",
       .inputs = bn_inputs({3, 2, 2, 2}, 71),
       .attrs = {{"epsilon", 0.01f}, {"tamp_sync_group", kOneRank.id()}},
       .wrt = {0, 1, 2},
       .label = "synced_opset9_saved_stats",
       .opset = 9,
       .training = true},
  };
}

}  // namespace tamp::test
