// What accuracy-aware tuning aims at: an accuracy criterion against the fp32 baseline, an
// objective to minimise among the configurations that meet it, and when to stop.
//
//   auto c = AccuracyCriterion::parse("relative:0.01");   // keep >= 99 % of fp32's accuracy
//   c.required(0.90);                                     // 0.891
//   auto o = Objective::parse("latency:./bench.sh {model}");  // seconds printed by a command
//   ExitPolicy e{.max_trials = 50, .timeout_seconds = 600, .stop_at_first = false};
#pragma once

#include <string>

namespace tamp::tuning {

struct AccuracyCriterion {
  enum class Kind { kRelative, kAbsolute };
  Kind kind = Kind::kRelative;
  double tolerance =
      0.01;  // relative: fraction of the baseline; absolute: accuracy points in [0, 1]

  // "relative:0.01" or "absolute:0.005"; throws (kInvalidInput) naming the accepted forms
  // for anything else, a negative or non-finite tolerance, or a relative one >= 1.
  static AccuracyCriterion parse(const std::string& text);
  double required(double baseline) const;
  bool met(double accuracy, double baseline) const;
  std::string describe() const;  // "relative loss <= 1 %"
};

enum class ObjectiveKind {
  kSize,  // bytes of the weights as exported (int8 = 1 byte; zeros of a pruned layer not counted)
  kBops,  // bit operations: MACs x weight bits x activation bits (fp32 ops count 32 x 32)
  kLatency,  // the last number a user command prints for the exported file ({model} in it)
};

struct Objective {
  ObjectiveKind kind = ObjectiveKind::kSize;
  std::string command;  // kLatency

  // "size", "bops", "latency:COMMAND" (COMMAND contains {model}); throws otherwise.
  static Objective parse(const std::string& text);
  std::string name() const;  // "size", "bops", "latency"
};

struct ExitPolicy {
  int max_trials = 100;        // trials (evaluations of a configuration), resumed ones included
  double timeout_seconds = 0;  // 0: none
  bool stop_at_first = true;   // stop at the first config that meets the criterion
};

// The one number the model-based strategies (Bayesian, TPE) minimise: objective / the fp32
// model's objective (in (0, ~1]) when the criterion is met, otherwise 1 + 10 x the accuracy
// shortfall relative to the required accuracy, so any config that meets the criterion
// scores better than one that does not, and nearer misses better than far ones.
double trial_score(double accuracy, double objective, double required_accuracy,
                   double baseline_objective);

}  // namespace tamp::tuning
