// Quantization-aware training: the model trains through FakeQuantize nodes on weights and
// activations (ONNX QuantizeLinear/DequantizeLinear numerics, straight-through gradients),
// so the int8 model ONNX Runtime runs after export computes what training simulated.
//
//   auto qat = std::make_shared<QuantizationAwareTraining>(
//       QuantizerOptions{.weights = qint8_per_channel, .activations = quint8, .freeze_bn_epoch = 1});
//   Trainer(model, {qat}, {.train = data.train, .epochs = 1, .optimizer = SGD{.lr = 0.001}}).run();
//   nn::Graph int8 = lower_quantized(model.graph(), QuantFormat::kQdq);
//
// Schedule, as the training loop calls it (component.h):
//   attach            BatchNorm folded into Conv with its running statistics; FakeQuantize
//                     inserted (weights on the folded weight), activations bypassed.
//   on_stage_begin    the BN freeze step is resolved (freeze_bn_step, or freeze_bn_epoch;
//                     by default the start of the last epoch). Unless it is step 0, every
//                     folded BN goes back to its training form (batch_norm_qat.h): the Conv
//                     runs the fake-quantized folded weight W*gamma/sqrt(running_var+eps),
//                     its output is scaled back, and BN normalises with batch statistics and
//                     updates its running ones. Step 0: BN stays folded (frozen from the start;
//                     the Conv trains the folded weights).
//   step >= freeze    BN statistics averaged over ranks, then BN uses its running statistics
//                     (eval numerics = the folded Conv the export writes); gamma/beta still train.
//   step 0            forward on float activations; observers see them; after the optimizer
//                     step the activation FakeQuantize nodes are connected.
//   every step        observers (activations.observer.kind, moving-average min-max by
//                     default) update from the forward pass; after the optimizer step the
//                     weight scales follow the new weights and activation scales the
//                     observers (averaged over ranks).
//   epoch >= activations.observer.freeze_epoch   observers frozen, scales fixed.
//   learnable_scales  scales are initialised as above, then trained (LSQ).
//   finalize          scales frozen; live BNs folded with their final running statistics,
//                     so the model (and the export) computes what eval() simulated.
#pragma once

#include <tamp/compression/quantization/fake_quantizer.h>

namespace tamp::compression {

class QuantizationAwareTraining : public FakeQuantizer {
 public:
  explicit QuantizationAwareTraining(QuantizerOptions options = {}) : FakeQuantizer(std::move(options)) {}
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
