#include <tamp/nn/lr_schedule.h>

#include <algorithm>
#include <cmath>
#include <numbers>

namespace tamp::nn {

namespace {
void check_lr(double lr, const char* who) {
  TAMP_CHECK(lr >= 0 && std::isfinite(lr), "{}: learning rate {} must be finite and >= 0", who, lr);
}
void check_step(int64_t step) { TAMP_CHECK(step >= 0, "lr_at: step {} is negative", step); }
}  // namespace

ConstantLr::ConstantLr(double lr) : lr_(lr) { check_lr(lr, "ConstantLr"); }

double ConstantLr::lr_at(int64_t step) const {
  check_step(step);
  return lr_;
}

StepLr::StepLr(double lr, int64_t step_size, double gamma)
    : lr_(lr), gamma_(gamma), step_size_(step_size) {
  check_lr(lr, "StepLr");
  TAMP_CHECK(step_size > 0, "StepLr: step_size {} must be positive", step_size);
  TAMP_CHECK(gamma >= 0, "StepLr: gamma {} must be >= 0", gamma);
}

double StepLr::lr_at(int64_t step) const {
  check_step(step);
  return lr_ * std::pow(gamma_, static_cast<double>(step / step_size_));
}

MultiStepLr::MultiStepLr(double lr, std::vector<int64_t> milestones, double gamma)
    : lr_(lr), gamma_(gamma), milestones_(std::move(milestones)) {
  check_lr(lr, "MultiStepLr");
  TAMP_CHECK(gamma >= 0, "MultiStepLr: gamma {} must be >= 0", gamma);
  std::sort(milestones_.begin(), milestones_.end());
}

double MultiStepLr::lr_at(int64_t step) const {
  check_step(step);
  const auto passed =
      std::upper_bound(milestones_.begin(), milestones_.end(), step) - milestones_.begin();
  return lr_ * std::pow(gamma_, static_cast<double>(passed));
}

CosineAnnealingLr::CosineAnnealingLr(double lr, int64_t t_max, double eta_min)
    : lr_(lr), eta_min_(eta_min), t_max_(t_max) {
  check_lr(lr, "CosineAnnealingLr");
  check_lr(eta_min, "CosineAnnealingLr (eta_min)");
  TAMP_CHECK(t_max > 0, "CosineAnnealingLr: t_max {} must be positive", t_max);
}

double CosineAnnealingLr::lr_at(int64_t step) const {
  check_step(step);
  const double phase = std::numbers::pi * static_cast<double>(step) / static_cast<double>(t_max_);
  return eta_min_ + (lr_ - eta_min_) * (1 + std::cos(phase)) / 2;
}

LinearWarmup::LinearWarmup(std::shared_ptr<const LrSchedule> after, int64_t warmup_steps,
                           double start_factor)
    : after_(std::move(after)), warmup_(warmup_steps), start_factor_(start_factor) {
  TAMP_CHECK(after_ != nullptr, "LinearWarmup: the schedule after warm-up is null");
  TAMP_CHECK(warmup_steps >= 0, "LinearWarmup: warmup_steps {} is negative", warmup_steps);
  TAMP_CHECK(start_factor >= 0 && start_factor <= 1,
             "LinearWarmup: start_factor {} must be in [0, 1]", start_factor);
}

double LinearWarmup::lr_at(int64_t step) const {
  check_step(step);
  if (step >= warmup_) return after_->lr_at(step - warmup_);
  const double f = start_factor_ +
                   (1 - start_factor_) * static_cast<double>(step) / static_cast<double>(warmup_);
  return after_->lr_at(0) * f;
}

}  // namespace tamp::nn
