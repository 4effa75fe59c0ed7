// Cross-layer equalization (Nagel et al. 2019, section 4.1): consecutive Convs rescaled per
// channel so both channel ranges become sqrt(r1 * r2), the float function unchanged; ReLU6
// pairs skipped unless relu6_to_relu. Algorithm: docs/ptq_recovery.md#cross-layer-equalization
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
  std::vector<std::string> exclude;  // Conv node names left alone (either side of a pair)
  bool relu6_to_relu = false;        // replace Clip(0, 6) between a pair by Relu (see above)
  int max_iterations = 20;           // passes over the pairs
  double tolerance = 1e-4;           // stop once every |ln s_i| of a pass is below this
};

struct EqualizationReport {
  std::vector<std::pair<std::string, std::string>> pairs;  // Conv node names, in graph order
  int folded_batch_norms = 0;
  int relu6_replaced = 0;
  int skipped_relu6 = 0;  // pairs joined by a ReLU6 and left alone
  int iterations = 0;
};

// Rewrites `graph` in place (new initializer tensors: graphs sharing the old ones keep them).
EqualizationReport equalize_cross_layer(nn::Graph& graph, const EqualizationOptions& options = {});

// The Component: equalizes the model's graph at attach (recipe key `equalization`, CLI
// `tamp quantize --equalize`). It calibrates nothing, so it goes in a calibration stage: the
// ptq stage (before ptq) or a stage of its own.
class CrossLayerEqualization : public Component {
 public:
  explicit CrossLayerEqualization(EqualizationOptions options = {})
      : options_(std::move(options)) {}
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
