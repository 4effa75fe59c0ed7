#include <tamp/compression/quantization/qat/qat.h>

#include <algorithm>

namespace tamp::compression {

void QuantizationAwareTraining::on_stage_begin(const StepInfo& at) {
  const auto& o = options();
  int64_t step = -1;  // never
  if (o.freeze_bn_step >= 0)
    step = o.freeze_bn_step;
  else if (o.freeze_bn_epoch >= 0)
    step = o.freeze_bn_epoch * at.steps_per_epoch;
  else if (o.freeze_bn_epoch == kFreezeBnLastEpoch)
    step = std::max<int64_t>(0, at.total_steps - at.steps_per_epoch);
  freeze_bn_step_ = step;
  if (step != 0 && folded_batch_norms() > 0) unfold_batch_norms();
}

void QuantizationAwareTraining::on_epoch_begin(const StepInfo& at) {
  const int freeze = options().activations.observer.freeze_epoch;
  if (freeze >= 0 && at.epoch >= freeze && active()) freeze_observers();
}

void QuantizationAwareTraining::on_step_begin(const StepInfo& at) {
  if (live_batch_norms() > 0 && !batch_norms_frozen() && freeze_bn_step_ >= 0 &&
      at.step >= freeze_bn_step_) {
    freeze_batch_norms();
  }
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
