// The tuning history, tuning.jsonl: a header (fingerprints of space, model and data), the fp32
// baseline, then one JSON line per trial, appended and flushed as each finishes. A restarted
// run answers every configuration found here instead of evaluating it; a file for another
// space, model or data is refused, a torn last line ignored. Format: docs/tuning.md
//
//   {"trial": 0, "config": {"/fc1/Gemm:quantize": "int8", ...}, "accuracy": 0.62,
//    "objective": 427000, "seconds": 0.41}
#pragma once

#include <tamp/scheduler/tuning/problem.h>

#include <map>
#include <optional>
#include <string>

namespace tamp::tuning {

class TuningHistory {
 public:
  // path "" keeps nothing. Throws (kInvalidInput) for a file of another space, model or
  // data, or a malformed line other than the last, (kIo) when the file cannot be written.
  TuningHistory(std::string path, const TuningSpace& space,
                const ProblemFingerprint& fingerprint = {});

  const std::optional<Outcome>& baseline() const { return baseline_; }
  void set_baseline(const Outcome& b);
  // The finished trial of canonical configuration c, or null.
  const TrialRecord* find(const Config& c) const;
  void append(const TrialRecord& r);
  size_t loaded_trials() const { return loaded_; }
  const std::string& path() const { return path_; }

 private:
  void write_line(const std::string& line);

  std::string path_;
  const TuningSpace& space_;
  std::optional<Outcome> baseline_;
  std::map<std::string, TrialRecord> trials_;  // by space.key
  size_t loaded_ = 0;
};

}  // namespace tamp::tuning
