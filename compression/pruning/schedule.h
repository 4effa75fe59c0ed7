// When pruning happens and how sparse each update makes a weight: update steps and the target
// curves (one_shot, linear, cubic, exponential, cosine). Formulas: docs/pruning.md#schedules
//
//   Schedule s{.curve = Curve::kCubic, .start_epoch = 0, .end_epoch = 2, .frequency = 50};
//   ScheduleClock clock(s, /*steps_per_epoch=*/938);
//   if (clock.is_update(step)) prune_to(clock.target(step, /*initial=*/0, /*final=*/0.9));
#pragma once

#include <cstdint>
#include <string>

namespace tamp::compression::pruning {

enum class Curve { kOneShot, kLinear, kCubic, kExponential, kCosine };

// "one_shot" (or "oneshot"), "linear", "cubic", "exponential" (or "exp"), "cosine" (or "cos").
Curve parse_curve(const std::string& text);
std::string curve_name(Curve c);
// The curve's value at progress p in [0, 1] (see above).
double curve_value(Curve c, double p, double initial, double final_sparsity);

struct Schedule {
  Curve curve = Curve::kOneShot;
  int64_t start_step = 0;
  int64_t end_step = 0;
  double start_epoch = -1;       // >= 0: overrides start_step
  double end_epoch = -1;         // >= 0: overrides end_step
  int64_t frequency = 1;         // steps between updates
  double frequency_epochs = -1;  // > 0: overrides frequency

  static Schedule one_shot(int64_t step = 0) { return {Curve::kOneShot, step, step}; }
  static Schedule gradual(Curve curve, int64_t start_step, int64_t end_step,
                          int64_t frequency = 1) {
    return {curve, start_step, end_step, -1, -1, frequency};
  }
  static Schedule gradual_epochs(Curve curve, double start_epoch, double end_epoch,
                                 int64_t frequency = 1) {
    return {curve, 0, 0, start_epoch, end_epoch, frequency};
  }
};

// A schedule resolved to steps for a stage.
class ScheduleClock {
 public:
  // Throws (kInvalidInput) on negative steps, end < start, frequency < 1 or epochs without
  // steps_per_epoch.
  ScheduleClock(const Schedule& schedule, int64_t steps_per_epoch);

  int64_t start() const { return start_; }
  int64_t end() const { return end_; }
  int64_t frequency() const { return frequency_; }
  bool is_update(int64_t step) const;
  // Progress p of the update at `step` (or of the last update before it): 0 before start.
  double progress(int64_t step) const;
  double target(int64_t step, double initial, double final_sparsity) const;
  Curve curve() const { return curve_; }

 private:
  Curve curve_;
  int64_t start_ = 0, end_ = 0, frequency_ = 1;
};

}  // namespace tamp::compression::pruning
