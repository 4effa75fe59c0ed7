// The tuning history, tuning.jsonl: one JSON object per line, appended and flushed as each
// trial finishes, so an interrupted run loses at most the trial it was evaluating.
//
//   {"tamp_tuning": 1, "space": "3f2a...", "model": "91c0...", "data": "5e77...",
//    "dimensions": 16}                                                     header
//   {"baseline": {"accuracy": 0.8412, "objective": 1706536}}              fp32 model
//   {"trial": 0, "config": {"/fc1/Gemm:quantize": "int8", ...}, "accuracy": 0.62,
//    "objective": 427000, "seconds": 0.41}                                 one per trial
//
// A restarted run opens the same file: the strategy replays from the start (strategies are
// deterministic for a seed) and every configuration found here is answered from the file
// instead of evaluated. Accuracy and objective are stored raw, so a restart may change the
// criterion. A file written for another tuning space, another model (its content, not its
// file name) or other data (problem.h: ProblemFingerprint) is refused; a torn last line (the
// process was killed while writing it) is ignored.
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
  TuningHistory(std::string path, const TuningSpace& space, const ProblemFingerprint& fingerprint = {});

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
