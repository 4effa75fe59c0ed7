#include <tamp/scheduler/train_schedule.h>

#include <tamp/autograd/error.h>
#include <tamp/nn/data_loader.h>

#include <fmt/format.h>

#include <algorithm>

namespace tamp {

TrainLength train_length(int64_t examples, int64_t batch_size, int epochs,
                         int64_t max_steps_per_epoch, int num_shards) {
  TAMP_CHECK(
      examples >= 0 && batch_size >= 1 && epochs >= 0 && num_shards >= 1,
      "a training run needs examples >= 0 (got {}), batch size >= 1 (got {}), epochs >= 0 (got {}) "
      "and ranks >= 1 (got {})",
      examples, batch_size, epochs, num_shards);
  int64_t per_epoch = nn::DataLoader::num_batches(examples, batch_size, num_shards);
  if (max_steps_per_epoch >= 0) per_epoch = std::min(per_epoch, max_steps_per_epoch);
  return {per_epoch, per_epoch * epochs};
}

std::shared_ptr<const nn::LrSchedule> make_lr_schedule(const LrScheduleSpec& spec, double lr,
                                                       int64_t total_steps) {
  std::shared_ptr<const nn::LrSchedule> s;
  const int64_t after = std::max<int64_t>(1, total_steps - spec.warmup_steps);
  if (spec.kind == "constant")
    s = std::make_shared<nn::ConstantLr>(lr);
  else if (spec.kind == "cosine")
    s = std::make_shared<nn::CosineAnnealingLr>(lr, after, spec.eta_min);
  else if (spec.kind == "step")
    s = std::make_shared<nn::StepLr>(lr, spec.step_size, spec.gamma);
  else if (spec.kind == "multistep")
    s = std::make_shared<nn::MultiStepLr>(lr, spec.milestones, spec.gamma);
  else
    throw Error(fmt::format(
        "unknown learning-rate schedule '{}' (constant, cosine, step, multistep)", spec.kind));
  if (spec.warmup_steps > 0)
    s = std::make_shared<nn::LinearWarmup>(s, spec.warmup_steps, spec.warmup_start_factor);
  return s;
}

}  // namespace tamp
