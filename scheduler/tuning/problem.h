// TuningProblem: what a strategy searches, as the tuner sees it — a space, an fp32 baseline
// and an evaluation of one configuration (accuracy and objective). Quantization tuning
// (quant_tuning.h) is one; tests use synthetic ones with a known optimum.
//
//   class Toy : public TuningProblem {
//     Outcome baseline() override { return {1.0, 100}; }
//     Outcome evaluate(const Config& c) override { return {accuracy_of(c), size_of(c)}; }
//   };
#pragma once

#include <tamp/scheduler/tuning/space.h>

#include <map>
#include <string>

namespace tamp::tuning {

struct Outcome {
  double accuracy = 0;   // in [0, 1], higher is better
  double objective = 0;  // lower is better (size, BOPs, latency)
};

// What a trial's outcome depends on besides its configuration, as hashes: the model's
// content, and the data it is calibrated and evaluated on with the settings that pick it.
// The history (history.h) refuses a file written for another model or other data. Empty:
// the problem cannot tell (synthetic problems).
struct ProblemFingerprint {
  std::string model;
  std::string data;
};

class TuningProblem {
 public:
  virtual ~TuningProblem() = default;
  virtual const TuningSpace& space() const = 0;
  virtual ProblemFingerprint fingerprint() const { return {}; }
  // The uncompressed model. Called at most once per tuning run (and not at all when the
  // history holds it).
  virtual Outcome baseline() = 0;
  // requires: c is canonical for space().
  virtual Outcome evaluate(const Config& c) = 0;
  // Per fallback dimension (index into space()), how much quantizing that op alone hurts,
  // measured without an evaluation (e.g. the MSE of the model's output); higher falls back
  // first. Empty when the problem cannot tell.
  virtual std::map<int, double> quantization_error() { return {}; }
};

// One finished trial.
struct TrialRecord {
  int trial = 0;  // 0-based, in the order the strategy proposed it
  Config config;
  Outcome outcome;
  double score = 0;  // trial_score (criterion.h); lower is better
  bool meets = false;
  double seconds = 0;    // evaluation time (of the original run when resumed)
  bool resumed = false;  // read from the history, not evaluated in this run
};

}  // namespace tamp::tuning
