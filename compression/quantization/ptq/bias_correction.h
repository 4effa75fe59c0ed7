// Empirical bias correction (Nagel et al. 2019, section 4.2): layer by layer, each quantized
// layer's bias absorbs the shift quantization made in its output's per-channel mean.
// Method: docs/ptq_recovery.md#bias-correction
//
//   correct_biases(quantized_model, batches);   // after StaticQuantization::finalize
#pragma once

#include <tamp/compression/component.h>

#include <map>
#include <string>
#include <vector>

namespace tamp::compression {

struct BiasCorrectionOptions {
  int64_t batches = 8;               // calibration batches used (the first ones)
  std::vector<std::string> exclude;  // node names or op types left as they are
};

struct CorrectedLayer {
  std::string node;
  double mean_shift = 0;  // mean |correction| over the output channels
};

using InputBatch = std::map<std::string, Variable>;

// requires: `model` holds a FakeQuantize graph with its scales final (a finalized PTQ or
//           QAT model); `batches` are graph inputs. With a collective of several ranks, every
//           rank calls it (with its own batches) and the means are over all of them.
// ensures: the biases of the quantized compute layers are corrected; returns them in order.
std::vector<CorrectedLayer> correct_biases(nn::GraphModule& model,
                                           const std::vector<InputBatch>& batches,
                                           const BiasCorrectionOptions& options = {},
                                           nn::Collective* collective = nullptr);

// The Component (recipe key `bias_correction`, CLI `tamp quantize --bias-correction`): keeps
// the inputs of the first `batches` calibration batches and corrects at finalize, so it goes
// in the ptq stage after ptq, whose finalize fixed the scales.
class BiasCorrection : public Component {
 public:
  explicit BiasCorrection(BiasCorrectionOptions options = {});
  std::string name() const override { return "bias_correction"; }
  void attach(nn::GraphModule& model, nn::Collective& collective) override;
  bool needs_training() const override { return false; }
  void on_calibration_batch(const Batch& batch) override;
  // requires: the model is quantized (an earlier component's finalize fixed its scales).
  void finalize(nn::GraphModule& model) override;
  const std::vector<CorrectedLayer>& report() const { return report_; }

 private:
  BiasCorrectionOptions options_;
  nn::Collective* collective_ = nullptr;
  std::vector<InputBatch> batches_;
  std::vector<CorrectedLayer> report_;
};

}  // namespace tamp::compression
