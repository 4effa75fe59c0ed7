#include <tamp/autograd/error.h>
#include <tamp/scheduler/tuning/history.h>
#include <tamp/scheduler/tuning/tuner.h>

#include <fmt/format.h>

#include <chrono>
#include <map>

namespace tamp::tuning {

namespace {

constexpr int kMaxRepeats = 200;  // proposals already answered in a row before giving up

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::vector<FallbackReason> explain(TuningProblem& problem, const TuningResult& r) {
  std::vector<FallbackReason> out;
  if (!r.best) return out;
  const TuningSpace& space = problem.space();
  const auto fallback_dims = space.dimensions_of_kind(DimensionKind::kFallback);
  std::map<int, double> err;
  bool any = false;
  for (int d : fallback_dims) any = any || r.best->config[static_cast<size_t>(d)] != 0;
  if (!any) return out;
  err = problem.quantization_error();
  const TrialRecord* all_int8 = nullptr;
  for (const auto& t : r.history) {
    bool none = true;
    for (int d : fallback_dims) none = none && t.config[static_cast<size_t>(d)] == 0;
    if (none && !all_int8) all_int8 = &t;
  }
  for (int d : fallback_dims) {
    if (r.best->config[static_cast<size_t>(d)] == 0) continue;
    FallbackReason f;
    const Dimension& dim = space.dimensions()[static_cast<size_t>(d)];
    f.op = dim.target;
    f.precision = dim.values[static_cast<size_t>(r.best->config[static_cast<size_t>(d)])];
    for (const auto& t : r.history) {
      bool alone = t.config[static_cast<size_t>(d)] != 0;
      for (int e : fallback_dims)
        if (e != d) alone = alone && t.config[static_cast<size_t>(e)] == 0;
      if (alone && (!f.accuracy_alone || t.outcome.accuracy > *f.accuracy_alone))
        f.accuracy_alone = t.outcome.accuracy;
    }
    if (auto it = err.find(d); it != err.end()) f.quantization_error = it->second;
    std::vector<std::string> parts;
    if (f.accuracy_alone) {
      parts.push_back(
          all_int8 ? fmt::format(
                         "accuracy {:.4f} with this op alone not int8 ({:.4f} with every op int8)",
                         *f.accuracy_alone, all_int8->outcome.accuracy)
                   : fmt::format("accuracy {:.4f} with this op alone not int8", *f.accuracy_alone));
    }
    if (f.quantization_error)
      parts.push_back(fmt::format("output MSE {:.3g} when quantized alone", *f.quantization_error));
    if (parts.empty())
      parts.push_back("fell back together with the others (no single-op measurement)");
    for (size_t i = 0; i < parts.size(); ++i) f.text += (i ? "; " : "") + parts[i];
    out.push_back(f);
  }
  return out;
}

// The trial to answer with: among those quantizing something, the one meeting the criterion
// with the lowest objective (ties: the more accurate), else the most accurate.
std::optional<TrialRecord> best_trial(const TuningSpace& space,
                                      const std::vector<TrialRecord>& history) {
  std::optional<TrialRecord> best;
  for (const auto& r : history) {
    if (space.quantizes_nothing(r.config)) continue;
    if (r.meets) {
      if (!best || !best->meets || r.outcome.objective < best->outcome.objective ||
          (r.outcome.objective == best->outcome.objective &&
           r.outcome.accuracy > best->outcome.accuracy)) {
        best = r;
      }
    } else if (!best || (!best->meets && r.outcome.accuracy > best->outcome.accuracy)) {
      best = r;
    }
  }
  return best;
}

std::string result_message(const TuningResult& result, const AccuracyCriterion& criterion) {
  const std::string crit = fmt::format("{} (accuracy >= {:.4f}, fp32 {:.4f})", criterion.describe(),
                                       result.required_accuracy, result.baseline.accuracy);
  if (result.met) {
    return fmt::format(
        "trial {} meets {}: accuracy {:.4f}, objective {:.6g} ({:.1f} % of fp32); {} trials, "
        "stopped: {}",
        result.best->trial, crit, result.best->outcome.accuracy, result.best->outcome.objective,
        result.baseline.objective > 0
            ? 100 * result.best->outcome.objective / result.baseline.objective
            : 0.0,
        result.trials, result.stop_reason);
  }
  if (result.best) {
    return fmt::format(
        "no configuration met {} in {} trials (stopped: {}); the most accurate, trial {}, "
        "reached {:.4f}",
        crit, result.trials, result.stop_reason, result.best->trial, result.best->outcome.accuracy);
  }
  return fmt::format("no trial quantizing an op ran ({} trials, stopped: {})", result.trials,
                     result.stop_reason);
}

// The trial of `c` from the history file, else evaluated now (counted in result).
TrialRecord resumed_or_evaluated(TuningProblem& problem, const TuningHistory& history,
                                 const Config& c, TuningResult& result) {
  TrialRecord r;
  if (const TrialRecord* done = history.find(c)) {
    r = *done;
    r.resumed = true;
    ++result.resumed;
    return r;
  }
  const auto t0 = Clock::now();
  TAMP_WITH_CONTEXT(fmt::format("tuning trial {}", result.trials), r.outcome = problem.evaluate(c));
  r.seconds = seconds_since(t0);
  r.config = c;
  ++result.evaluations;
  return r;
}

}  // namespace

TuningResult tune(TuningProblem& problem, Strategy& strategy, const TunerOptions& options) {
  const TuningSpace& space = problem.space();
  if (space.empty()) {
    throw Error("the tuning space is empty: nothing to search", ErrorKind::kInvalidInput,
                "give the model a quantizable op that is not excluded, sparsity levels, or a "
                "searchable value with "
                "two or more candidates");
  }
  if (options.exit.max_trials < 1) {
    throw Error(fmt::format("max trials must be at least 1 (got {})", options.exit.max_trials),
                ErrorKind::kInvalidInput);
  }
  const auto start = Clock::now();
  TuningHistory history(options.history, space, problem.fingerprint());
  TuningResult result;
  if (history.baseline()) {
    result.baseline = *history.baseline();
  } else {
    result.baseline = problem.baseline();
    history.set_baseline(result.baseline);
  }
  result.required_accuracy = options.criterion.required(result.baseline.accuracy);

  std::map<std::string, size_t> index;  // space.key -> position in result.history
  int repeats = 0;
  while (true) {
    if (result.trials >= options.exit.max_trials) {
      result.stop_reason = "max trials";
      break;
    }
    if (options.exit.timeout_seconds > 0 && seconds_since(start) >= options.exit.timeout_seconds) {
      result.stop_reason = "timeout";
      break;
    }
    StrategyContext ctx{space, problem, result.history, result.required_accuracy,
                        !options.exit.stop_at_first};
    std::optional<Config> proposal = strategy.next(ctx);
    if (!proposal) {
      result.stop_reason = "strategy exhausted";
      break;
    }
    const Config c = space.canonical(*proposal);
    if (auto it = index.find(space.key(c)); it != index.end()) {
      strategy.observe(result.history[it->second], ctx);
      if (++repeats > kMaxRepeats) {
        result.stop_reason = "strategy exhausted";
        break;
      }
      continue;
    }
    repeats = 0;
    TrialRecord r = resumed_or_evaluated(problem, history, c, result);
    r.trial = result.trials++;
    r.meets = options.criterion.met(r.outcome.accuracy, result.baseline.accuracy);
    r.score = trial_score(r.outcome.accuracy, r.outcome.objective, result.required_accuracy,
                          result.baseline.objective);
    if (!r.resumed) history.append(r);
    index[space.key(c)] = result.history.size();
    result.history.push_back(r);
    strategy.observe(result.history.back(),
                     StrategyContext{space, problem, result.history, result.required_accuracy,
                                     !options.exit.stop_at_first});
    if (options.on_trial) options.on_trial(r);
    // Quantizing nothing is the float model again: never an answer to a quantization goal
    // (strategies still see that it meets, and may re-quantize ops from there).
    if (r.meets && !space.quantizes_nothing(c) && options.exit.stop_at_first) {
      result.stop_reason = "criterion met";
      break;
    }
  }

  result.best = best_trial(space, result.history);
  result.met = result.best && result.best->meets;
  result.message = result_message(result, options.criterion);
  result.fallbacks = explain(problem, result);
  return result;
}

}  // namespace tamp::tuning
