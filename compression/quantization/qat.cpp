#include <tamp/compression/quantization/qat.h>

namespace tamp::compression {

void QuantizationAwareTraining::on_epoch_begin(const StepInfo& at) {
  const int freeze = options().activations.observer.freeze_epoch;
  if (freeze >= 0 && at.epoch >= freeze && active()) freeze_observers();
}

Variable QuantizationAwareTraining::extra_loss(const Batch& batch, const StepInfo& at) {
  observe(batch);
  return {};
}

void QuantizationAwareTraining::on_after_step(const StepInfo& at) {
  sync_observers();
  if (!options().learnable_scales) {
    refresh_weight_scales();
    refresh_activation_scales();
  } else if (!active()) {
    refresh_activation_scales();  // LSQ: initialise from the first batch, then learn
  }
}

}  // namespace tamp::compression
