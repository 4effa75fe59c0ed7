// Empirical bias correction (Nagel et al. 2019, "Data-Free Quantization", section 4.2, with
// data instead of BatchNorm statistics): quantization moves the mean of a layer's output,
// E[Q(W) x_q] != E[W x], and later layers inherit the shift. Layer by layer, in graph order,
//   b_c += E[y_float]_c - E[y_quantized]_c        (per output channel c)
// where y_float is the layer's output in the float model and y_quantized its output in the
// quantized model with every earlier layer already corrected, both on the same inputs.
// The bias is a float initializer in the FakeQuantize graph (lowering quantizes it to int32
// at export), so the exported model carries the correction. Conv, ConvTranspose and Gemm with
// a quantized weight are corrected; a layer without a bias gets one.
//
//   correct_biases(quantized_model, batches);   // after StaticQuantization::finalize
#pragma once

#include <tamp/compression/component.h>

#include <map>
#include <string>
#include <vector>

namespace tamp::compression {

struct BiasCorrectionOptions {
  int64_t batches = 8;                 // calibration batches used (the first ones)
  std::vector<std::string> exclude;    // node names or op types left as they are
};

struct CorrectedLayer {
  std::string node;
  double mean_shift = 0;               // mean |correction| over the output channels
};

using InputBatch = std::map<std::string, Variable>;

// requires: `model` holds a FakeQuantize graph with its scales final (a finalized PTQ or
//           QAT model); `batches` are graph inputs. With a collective of several ranks, every
//           rank calls it (with its own batches) and the means are over all of them.
// ensures: the biases of the quantized compute layers are corrected; returns them in order.
std::vector<CorrectedLayer> correct_biases(nn::GraphModule& model, const std::vector<InputBatch>& batches,
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
