// FakeQuantizer: the Component QAT and static PTQ share. attach() folds BatchNorm, plans the
// points and inserts FakeQuantize nodes; finalize() freezes every scale, leaving the graph that
// lower_quantized() exports. Scales and zero points are initializers named value + "_scale" /
// "_zero_point" (docs/quantization.md#where-the-fakequantize-nodes-go).
#pragma once

#include <tamp/compression/component.h>
#include <tamp/compression/quantization/export_target.h>
#include <tamp/compression/quantization/fake_quant_graph.h>
#include <tamp/compression/quantization/observers/observer.h>
#include <tamp/compression/quantization/qat/batch_norm_qat.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tamp::compression {

// QuantizerOptions::freeze_bn_epoch: BatchNorm trains until the last epoch of the stage.
inline constexpr int kFreezeBnLastEpoch = -2;

struct QuantizerOptions {
  QuantSpec weights = qint8_per_channel;  // observer.kind: min-max of the current weights (the
                                          // default), or percentile / entropy / MSE per channel
  QuantSpec activations = quint8;         // observer.kind picks the calibration method
  std::vector<std::string> exclude;       // node names or op types kept in float
  bool fold_batch_norm = true;
  bool learnable_scales = false;  // LSQ (Esser et al.): scales trained by the optimizer
  // QAT only (batch_norm_qat.h): a folded BatchNorm keeps training (batch statistics, running
  // statistics updated, gamma and beta learnt) until this epoch, then uses its running
  // statistics. 0: frozen from the start (folded into the Conv at attach); -1: never frozen
  // while training (the export folds the final running statistics); kFreezeBnLastEpoch: the
  // start of the stage's last epoch (one epoch of QAT: frozen from the start).
  int freeze_bn_epoch = kFreezeBnLastEpoch;
  int64_t freeze_bn_step = -1;  // >= 0: freeze at this step of the stage instead
  // The CPUs the export must compute exactly on (export_target.h): the weights are quantized
  // to the range the target exports (weights_for_target), so training sees what ONNX Runtime
  // computes; the graph records the target for the export.
  ExportTarget target = ExportTarget::kPortable;
};

class FakeQuantizer : public Component {
 public:
  explicit FakeQuantizer(QuantizerOptions options);

  // requires: the model holds a float graph with at least one quantizable op not excluded.
  // ensures: BatchNorm folded, FakeQuantize on the planned weights and activations.
  void attach(nn::GraphModule& model, nn::Collective& collective) override;
  // The float values whose observers still learn (activation FakeQuantize inputs).
  std::vector<std::string> extra_outputs() const override;
  // ensures: scales from the final weights and observers (agreed over ranks), every scale
  //          and zero point frozen, activations connected. Throws when no activation was
  //          ever observed.
  void finalize(nn::GraphModule& model) override;
  std::map<std::string, Tensor> state() const override;
  void load_state(const std::map<std::string, Tensor>& state) override;

  // The options with options().weights as the target makes them (weights_for_target).
  const QuantizerOptions& options() const { return options_; }
  const std::vector<FakeQuantSite>& sites() const { return sites_; }
  // The observer of an activation value (nullptr for weights or unknown values).
  const Observer* observer(const std::string& value) const;
  int folded_batch_norms() const { return folded_; }
  // BatchNorms still in their training form (batch_norm_qat.h), and whether they are frozen.
  int live_batch_norms() const { return static_cast<int>(live_.size()); }
  bool batch_norms_frozen() const { return bn_frozen_; }

 protected:
  void observe(const Batch& batch);
  void freeze_observers(bool frozen = true);
  // Each rank's observers reduced so every rank uses the same scales.
  void sync_observers();
  void refresh_weight_scales();
  // From the observers; the first call connects the bypassed activation FakeQuantize nodes.
  void refresh_activation_scales();
  bool active() const { return active_; }
  nn::GraphModule& model() const;
  // Puts the folded BatchNorms back in their training form (before the optimizer exists).
  void unfold_batch_norms();
  // BatchNorms use their running statistics from now on (averaged over ranks first).
  void freeze_batch_norms();

 private:
  void write_scale(const FakeQuantSite& site, const QuantParams& p);
  void activate();
  // The weight a weight site's FakeQuantize sees (the folded one while BatchNorm is live).
  Tensor weight_value(const FakeQuantSite& site) const;

  QuantizerOptions options_;
  nn::GraphModule* model_ = nullptr;
  nn::Collective* collective_ = nullptr;
  std::vector<FakeQuantSite> sites_;
  std::map<std::string, std::unique_ptr<Observer>> observers_;  // by site value
  std::map<std::string, int64_t> observed_numel_;               // LSQ gradient factors
  std::map<std::string, Tensor> pending_state_;                 // load_state before attach
  bool active_ = false;
  int folded_ = 0;
  std::vector<FoldedBatchNorm> folds_;
  std::vector<LiveBatchNorm> live_;
  bool bn_frozen_ = false;
};

}  // namespace tamp::compression
