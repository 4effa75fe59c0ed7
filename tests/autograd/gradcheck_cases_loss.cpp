// Gradient cases for cross_entropy.cpp, kl_div.cpp and mse_loss.cpp. Every SoftmaxCrossEntropyLoss
// case also projects the log_prob output, so both gradient paths are checked.
#include "autograd/gradcheck.h"

namespace tamp::test {

namespace {
const std::string kTamp = "tamp";
Attributes reduction(const char* r) { return {{"reduction", std::string(r)}}; }
}  // namespace

TAMP_GRAD_CASES(cross_entropy_cases) {
  const Tensor labels = constant_i64({4}, {2, 0, 4, 1});
  const Tensor labels_3d = constant_i64({2, 3}, {0, 2, 1, -1, 2, 0});  // (N, d1), one ignored
  const Tensor weights = uniform({5}, 0.5, 2, 20);
  Attributes ii = reduction("mean");
  ii.set("ignore_index", int64_t{-1});
  Attributes smooth = reduction("mean");
  smooth.set("label_smoothing", 0.2f);
  Attributes smooth_ii = ii;
  smooth_ii.set("label_smoothing", 0.1f);
  return {
      {.op = "SoftmaxCrossEntropyLoss",
       .inputs = {uniform({4, 5}, -2, 2, 1), labels},
       .label = "mean"},
      {.op = "SoftmaxCrossEntropyLoss",
       .inputs = {uniform({4, 5}, -2, 2, 2), labels, weights},
       .attrs = reduction("sum"),
       .wrt = {0},
       .label = "sum_weights"},
      {.op = "SoftmaxCrossEntropyLoss",
       .inputs = {uniform({2, 3, 3}, -2, 2, 3), labels_3d},
       .attrs = ii,
       .label = "NCd1_ignore"},
      {.op = "SoftmaxCrossEntropyLoss",
       .inputs = {uniform({2, 3, 3}, -2, 2, 4), labels_3d},
       .attrs =
           [] {
             Attributes a = reduction("none");
             a.set("ignore_index", int64_t{-1});
             return a;
           }(),
       .label = "none_ignore"},
      {.op = "NegativeLogLikelihoodLoss",
       .inputs = {uniform({4, 5}, -3, 0, 5), labels, weights},
       .attrs = reduction("mean"),
       .wrt = {0},
       .label = "mean_weights"},
      {.op = "NegativeLogLikelihoodLoss",
       .inputs = {uniform({2, 3, 3}, -3, 0, 6), labels_3d},
       .attrs =
           [] {
             Attributes a = reduction("none");
             a.set("ignore_index", int64_t{-1});
             return a;
           }(),
       .label = "none_ignore"},
      {.op = "SoftmaxCrossEntropyLoss",
       .inputs = {uniform({4, 5}, -2, 2, 7), labels},
       .attrs = smooth,
       .label = "label_smoothing",
       .domain = kTamp},
      {.op = "SoftmaxCrossEntropyLoss",
       .inputs = {uniform({2, 3, 3}, -2, 2, 8), labels_3d, uniform({3}, 0.5, 2, 21)},
       .attrs = smooth_ii,
       .wrt = {0},
       .label = "smoothing_weights_ignore",
       .domain = kTamp},
  };
}

TAMP_GRAD_CASES(kl_div_cases) {
  Attributes t4 = {{"temperature", 4.0f}};
  Attributes axis1 = {
      {"temperature", 2.0f}, {"axis", int64_t{1}}, {"reduction", std::string("sum")}};
  return {
      {.op = "SoftmaxKLDivLoss",
       .inputs = {uniform({3, 5}, -2, 2, 1), uniform({3, 5}, -2, 2, 2)},
       .label = "batchmean",
       .domain = kTamp},
      {.op = "SoftmaxKLDivLoss",
       .inputs = {uniform({3, 5}, -3, 3, 3), uniform({3, 5}, -3, 3, 4)},
       .attrs = t4,
       .label = "temperature",
       .domain = kTamp},
      {.op = "SoftmaxKLDivLoss",
       .inputs = {uniform({2, 4, 3}, -2, 2, 5), uniform({2, 4, 3}, -2, 2, 6)},
       .attrs = axis1,
       .label = "axis1_sum",
       .domain = kTamp},
  };
}

TAMP_GRAD_CASES(mse_cases) {
  return {
      {.op = "MSELoss",
       .inputs = {uniform({3, 4}, -1, 1, 1), uniform({3, 4}, -1, 1, 2)},
       .label = "mean",
       .domain = kTamp},
      {.op = "MSELoss",
       .inputs = {uniform({2, 3}, -1, 1, 3), uniform({2, 3}, -1, 1, 4)},
       .attrs = reduction("none"),
       .label = "none",
       .domain = kTamp},
      {.op = "MSELoss",
       .inputs = {uniform({5}, -1, 1, 5), uniform({5}, -1, 1, 6)},
       .attrs = reduction("sum"),
       .wrt = {0},
       .label = "sum",
       .domain = kTamp},
  };
}

}  // namespace tamp::test
