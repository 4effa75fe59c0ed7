// Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization Through Weight
// Equalization and Bias Correction", section 4.1): for two consecutive Convs joined by a
// positive-homogeneous activation (none, Relu, LeakyRelu, Clip(0, inf)) and per-channel
// pooling (MaxPool, AveragePool), output channel i of the first and input channel i of the
// second are rescaled,
//   W1[i] /= s_i,  b1[i] /= s_i,  W2[:, i] *= s_i,   s_i = sqrt(r1_i * r2_i) / r2_i
// (r1_i, r2_i: the largest |weight| of that channel in each layer), which leaves the float
// function unchanged (f(x / s) = f(x) / s for s > 0) and makes both channel ranges
// sqrt(r1_i * r2_i): per-channel ranges of very different sizes, the depthwise layers of
// MobileNets above all, become comparable, so per-tensor (and per-channel activation) grids
// lose less. Chains (expand -> depthwise -> project) are equalized pair by pair, repeatedly,
// until the scales settle.
//
// ReLU6 (Clip(0, 6)) is not positive-homogeneous: clip(x / s, 0, 6) != clip(x, 0, 6) / s.
// Such pairs are skipped by default; with relu6_to_relu the Clip becomes a Relu first (what
// the paper does for MobileNetV2), which changes the function wherever an activation
// exceeded 6 — the caller accepts that by asking for it.
//
// BatchNormalization is folded into its Conv first (batch_norm_folding.h), as quantization
// would do. Grouped and depthwise Convs take part on either side.
//
//   EqualizationReport r = equalize_cross_layer(graph, {.relu6_to_relu = true});
//   // r.pairs: the (first, second) Conv node names equalized
#pragma once

#include <tamp/compression/component.h>
#include <tamp/nn/graph.h>

#include <string>
#include <utility>
#include <vector>

namespace tamp::compression {

struct EqualizationOptions {
  std::vector<std::string> exclude;   // Conv node names left alone (either side of a pair)
  bool relu6_to_relu = false;         // replace Clip(0, 6) between a pair by Relu (see above)
  int max_iterations = 20;            // passes over the pairs
  double tolerance = 1e-4;            // stop once every |ln s_i| of a pass is below this
};

struct EqualizationReport {
  std::vector<std::pair<std::string, std::string>> pairs;  // Conv node names, in graph order
  int folded_batch_norms = 0;
  int relu6_replaced = 0;
  int skipped_relu6 = 0;              // pairs joined by a ReLU6 and left alone
  int iterations = 0;
};

// Rewrites `graph` in place (new initializer tensors: graphs sharing the old ones keep them).
EqualizationReport equalize_cross_layer(nn::Graph& graph, const EqualizationOptions& options = {});

// The Component: equalizes the model's graph at attach (recipe key `equalization`, CLI
// `tamp quantize --equalize`). It calibrates nothing, so it goes in a calibration stage: the
// ptq stage (before ptq) or a stage of its own.
class CrossLayerEqualization : public Component {
 public:
  explicit CrossLayerEqualization(EqualizationOptions options = {}) : options_(std::move(options)) {}
  std::string name() const override { return "equalization"; }
  // requires: a float model (no FakeQuantize nodes).
  // ensures: BatchNorms folded, every eligible Conv pair equalized (report()).
  void attach(nn::GraphModule& model, nn::Collective& collective) override;
  bool needs_training() const override { return false; }
  const EqualizationReport& report() const { return report_; }

 private:
  EqualizationOptions options_;
  EqualizationReport report_;
};

}  // namespace tamp::compression
