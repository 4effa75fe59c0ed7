// Quantization-aware training: the model trains through FakeQuantize nodes (ONNX
// QuantizeLinear numerics, straight-through gradients), so the int8 model ONNX Runtime runs
// after export computes what training simulated. Hooks: docs/quantization.md#the-qat-schedule
//
//   auto qat = std::make_shared<QuantizationAwareTraining>(QuantizerOptions{.freeze_bn_epoch = 1});
//   Trainer(model, {qat}, {.train = data.train, .epochs = 1, .optimizer = SGD{.lr = 0.001}}).run();
//   nn::Graph int8 = lower_quantized(model.graph(), QuantFormat::kQdq);
#pragma once

#include <tamp/compression/quantization/fake_quantizer.h>

namespace tamp::compression {

class QuantizationAwareTraining : public FakeQuantizer {
 public:
  explicit QuantizationAwareTraining(QuantizerOptions options = {})
      : FakeQuantizer(std::move(options)) {}
  std::string name() const override { return "qat"; }

  void on_stage_begin(const StepInfo& at) override;
  void on_epoch_begin(const StepInfo& at) override;
  void on_step_begin(const StepInfo& at) override;
  Variable extra_loss(const Batch& batch, const StepInfo& at) override;
  void on_after_step(const StepInfo& at) override;

 private:
  int64_t freeze_bn_step_ = 0;  // resolved at on_stage_begin; -1: never
};

}  // namespace tamp::compression
