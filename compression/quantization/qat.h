// Quantization-aware training: the model trains through FakeQuantize nodes on weights and
// activations (ONNX QuantizeLinear/DequantizeLinear numerics, straight-through gradients),
// so the int8 model ONNX Runtime runs after export computes what training simulated.
//
//   auto qat = std::make_shared<QuantizationAwareTraining>(
//       QuantizerOptions{.weights = qint8_per_channel, .activations = quint8});
//   Trainer(model, {qat}, {.train = data.train, .epochs = 1, .optimizer = SGD{.lr = 0.001}}).run();
//   nn::Graph int8 = lower_quantized(model.graph(), QuantFormat::kQdq);
//
// Schedule, as the training loop calls it (component.h):
//   attach            BatchNorm folded into Conv with its running statistics (BN is frozen
//                     from the start: the Conv trains the folded weights, and what trains is
//                     exactly what is exported); FakeQuantize inserted, activations bypassed.
//   step 0            forward on float activations; observers see them; after the optimizer
//                     step the activation FakeQuantize nodes are connected.
//   every step        observers (activations.observer.kind, moving-average min-max by
//                     default) update from the forward pass; after the optimizer step the
//                     weight scales follow the new weights and activation scales the
//                     observers (averaged over ranks).
//   epoch >= activations.observer.freeze_epoch   observers frozen, scales fixed.
//   learnable_scales  scales are initialised as above, then trained (LSQ).
//   finalize          scales frozen.
#pragma once

#include <tamp/compression/quantization/fake_quantizer.h>

namespace tamp::compression {

class QuantizationAwareTraining : public FakeQuantizer {
 public:
  explicit QuantizationAwareTraining(QuantizerOptions options = {}) : FakeQuantizer(std::move(options)) {}
  std::string name() const override { return "QuantizationAwareTraining"; }

  void on_epoch_begin(const StepInfo& at) override;
  Variable extra_loss(const Batch& batch, const StepInfo& at) override;
  void on_after_step(const StepInfo& at) override;
};

}  // namespace tamp::compression
