// Learning-rate schedules: the rate as a pure function of a step count (iterations or
// epochs — the caller picks the unit), so resuming from a checkpoint needs only the count.
// Values follow PyTorch's closed forms (StepLR, MultiStepLR, CosineAnnealingLR, and LinearLR
// followed by another schedule through SequentialLR).
//
//   auto cosine = std::make_shared<nn::CosineAnnealingLr>(0.1, /*t_max=*/900, /*eta_min=*/1e-4);
//   nn::LinearWarmup sched(cosine, /*warmup_steps=*/100, /*start_factor=*/0.01);
//   for (int64_t step = 0; ...; ++step) { sched.apply(opt, step); ... opt.step(); }
#pragma once

#include <tamp/nn/optimizer.h>

#include <memory>
#include <vector>

namespace tamp::nn {

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  virtual double lr_at(int64_t step) const = 0;
  void apply(Optimizer& optimizer, int64_t step) const { optimizer.set_lr(lr_at(step)); }
};

class ConstantLr : public LrSchedule {
 public:
  explicit ConstantLr(double lr);
  double lr_at(int64_t step) const override;

 private:
  double lr_;
};

// lr * gamma^(step / step_size), integer division.
class StepLr : public LrSchedule {
 public:
  StepLr(double lr, int64_t step_size, double gamma = 0.1);
  double lr_at(int64_t step) const override;

 private:
  double lr_, gamma_;
  int64_t step_size_;
};

// lr * gamma^(number of milestones <= step).
class MultiStepLr : public LrSchedule {
 public:
  MultiStepLr(double lr, std::vector<int64_t> milestones, double gamma = 0.1);
  double lr_at(int64_t step) const override;

 private:
  double lr_, gamma_;
  std::vector<int64_t> milestones_;  // sorted
};

// eta_min + (lr - eta_min) * (1 + cos(pi * step / t_max)) / 2; past t_max the cosine goes
// on (rises again), as PyTorch's closed form does.
class CosineAnnealingLr : public LrSchedule {
 public:
  CosineAnnealingLr(double lr, int64_t t_max, double eta_min = 0);
  double lr_at(int64_t step) const override;

 private:
  double lr_, eta_min_;
  int64_t t_max_;
};

// Ramps linearly from start_factor * after(0) to after(0) over `warmup_steps`, then follows
// `after` with its step count restarted at 0 (warm-up followed by cosine, say).
class LinearWarmup : public LrSchedule {
 public:
  LinearWarmup(std::shared_ptr<const LrSchedule> after, int64_t warmup_steps,
               double start_factor = 0);
  double lr_at(int64_t step) const override;

 private:
  std::shared_ptr<const LrSchedule> after_;
  int64_t warmup_;
  double start_factor_;
};

}  // namespace tamp::nn
