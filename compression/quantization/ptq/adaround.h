// AdaRound (Nagel et al., ICML 2020): after calibration, each quantized layer learns per weight
// whether to round down or up so that its output on calibration data changes least; a layer
// it does not improve keeps round-to-nearest. Algorithm: docs/ptq_smoothquant_adaround.md#adaround
//
//   auto ada = std::make_shared<AdaRound>(AdaRoundOptions{.steps = 500});   // after a ptq stage
//   Trainer(model, {ada}, {.train = calib, .calibration_batches = 8}).run();
//   for (const auto& l : ada->layers()) ... // l.mse_nearest, l.mse_adaround
#pragma once

#include <tamp/compression/component.h>

#include <string>
#include <vector>

namespace tamp::compression {

struct AdaRoundOptions {
  int64_t steps = 500;         // Adam steps per layer
  int64_t batch = 32;          // calibration examples per step
  int64_t max_examples = 256;  // calibration examples kept (the layer inputs are held in memory)
  double lr = 1e-2;
  double reg_weight = 0.01;  // λ
  double beta_start = 20, beta_end = 2;
  double warmup = 0.2;  // fraction of the steps without the regulariser
  uint64_t seed = 0;
  std::vector<std::string> exclude;  // node names or op types keeping round-to-nearest
};

struct AdaRoundLayer {
  std::string node;
  std::string weight;
  double mse_nearest = 0;     // ||W x − Ŵ x||² per example, round-to-nearest
  double mse_adaround = 0;    // the same with the learned rounding
  int64_t changed = 0;        // weights rounded differently from nearest
  bool kept_nearest = false;  // learned rounding was worse: round-to-nearest kept
};

// One layer: the learned integer weights (as float grid values s · (q − zp)) of node `node`
// (op Conv, Gemm or MatMul, weight at input 1) for inputs `x` ([examples, ...], the node's
// data input); `inputs` holds the node's other constant inputs by position (the bias).
// scale and zero_point are scalars or per channel along `axis` of the weight.
// ensures: report.mse_* over all of x; the returned weight lies on the grid within [qmin, qmax].
Tensor adaround_weight(const nn::Node& node, const Tensor& w, const Tensor& scale,
                       const Tensor& zero_point, int axis, int64_t qmin, int64_t qmax,
                       const Tensor& x, const std::vector<Tensor>& inputs,
                       const AdaRoundOptions& options, AdaRoundLayer* report);

class AdaRound : public Component {
 public:
  explicit AdaRound(AdaRoundOptions options = {});
  std::string name() const override { return "adaround"; }
  bool needs_training() const override { return false; }
  // requires: the model holds fake-quantized weights with frozen scales (a ptq or qat stage ran
  //           before); throws (kInvalidInput) otherwise.
  void attach(nn::GraphModule& model, nn::Collective& collective) override;
  void on_calibration_batch(const Batch& batch) override;
  // ensures: every fake-quantized Conv / Gemm / MatMul weight (not excluded, read by one node)
  //          holds its learned grid values.
  void finalize(nn::GraphModule& model) override;
  const std::vector<AdaRoundLayer>& layers() const { return layers_; }

 private:
  AdaRoundOptions options_;
  std::vector<std::map<std::string, Tensor>> inputs_;  // stored calibration batches
  int64_t examples_ = 0;
  std::vector<AdaRoundLayer> layers_;
};

}  // namespace tamp::compression
