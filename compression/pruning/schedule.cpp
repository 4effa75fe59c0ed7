#include <tamp/compression/pruning/schedule.h>

#include <tamp/autograd/error.h>

#include <algorithm>
#include <cmath>
#include <numbers>

namespace tamp::compression::pruning {

Curve parse_curve(const std::string& text) {
  if (text == "one_shot" || text == "oneshot" || text == "one-shot") return Curve::kOneShot;
  if (text == "linear") return Curve::kLinear;
  if (text == "cubic" || text == "gmp") return Curve::kCubic;
  if (text == "exponential" || text == "exp") return Curve::kExponential;
  if (text == "cosine" || text == "cos") return Curve::kCosine;
  throw Error(fmt::format("unknown pruning schedule '{}'", text), ErrorKind::kInvalidInput,
              "schedules are one_shot, linear, cubic, exponential and cosine");
}

std::string curve_name(Curve c) {
  switch (c) {
    case Curve::kOneShot:
      return "one_shot";
    case Curve::kLinear:
      return "linear";
    case Curve::kCubic:
      return "cubic";
    case Curve::kExponential:
      return "exponential";
    case Curve::kCosine:
      return "cosine";
  }
  return "?";
}

double curve_value(Curve c, double p, double s0, double s1) {
  p = std::clamp(p, 0.0, 1.0);
  if (p >= 1.0) return s1;  // exactly the final target, whatever rounding the formula has
  switch (c) {
    case Curve::kOneShot:
      return s1;
    case Curve::kLinear:
      return s0 + (s1 - s0) * p;
    case Curve::kCubic:
      return s1 + (s0 - s1) * (1 - p) * (1 - p) * (1 - p);
    case Curve::kExponential:
      if (s0 >= 1) return s1;
      return 1 - (1 - s0) * std::pow((1 - s1) / (1 - s0), p);
    case Curve::kCosine:
      return s0 + (s1 - s0) * (1 - std::cos(std::numbers::pi * p)) / 2;
  }
  return s1;
}

ScheduleClock::ScheduleClock(const Schedule& s, int64_t steps_per_epoch) : curve_(s.curve) {
  const bool epochs = s.start_epoch >= 0 || s.end_epoch >= 0 || s.frequency_epochs > 0;
  TAMP_CHECK(!epochs || steps_per_epoch > 0,
             "a pruning schedule in epochs needs the steps per epoch (got {})", steps_per_epoch);
  start_ = s.start_epoch >= 0 ? std::llround(s.start_epoch * static_cast<double>(steps_per_epoch))
                              : s.start_step;
  if (s.curve == Curve::kOneShot) {
    end_ = start_;
  } else if (s.end_epoch >= 0) {
    end_ = std::max<int64_t>(start_,
                             std::llround(s.end_epoch * static_cast<double>(steps_per_epoch)) - 1);
  } else {
    end_ = s.end_step;
  }
  frequency_ = s.frequency_epochs > 0
                   ? std::max<int64_t>(
                         1, std::llround(s.frequency_epochs * static_cast<double>(steps_per_epoch)))
                   : s.frequency;
  TAMP_CHECK(start_ >= 0, "pruning schedule: start step {} is negative", start_);
  TAMP_CHECK(end_ >= start_, "pruning schedule: end step {} is before start step {}", end_, start_);
  TAMP_CHECK(frequency_ >= 1, "pruning schedule: update frequency {} must be at least one step",
             frequency_);
}

bool ScheduleClock::is_update(int64_t step) const {
  if (step < start_ || step > end_) return false;
  return step == end_ || (step - start_) % frequency_ == 0;
}

double ScheduleClock::progress(int64_t step) const {
  if (step < start_) return 0;
  if (end_ == start_ || step >= end_) return 1;
  const int64_t last = start_ + (step - start_) / frequency_ * frequency_;
  return static_cast<double>(last - start_) / static_cast<double>(end_ - start_);
}

double ScheduleClock::target(int64_t step, double initial, double final_sparsity) const {
  if (step < start_) return initial;
  return curve_value(curve_, progress(step), initial, final_sparsity);
}

}  // namespace tamp::compression::pruning
