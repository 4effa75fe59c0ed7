// Strategy: how the next configuration is chosen (basic, mse, exhaustive, random, bayesian,
// tpe; one file each, built by make_strategy()). The tuner calls next(), evaluates the config
// (or finds it in the history) and hands the record to observe(). Strategies are deterministic
// for a seed, so a restarted run replays the history. What each does: docs/tuning.md
#pragma once

#include <tamp/scheduler/tuning/problem.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tamp::tuning {

struct StrategyContext {
  const TuningSpace& space;
  TuningProblem& problem;
  const std::vector<TrialRecord>& history;  // this run's distinct trials, in order
  double required_accuracy = 0;
  bool keep_improving = false;  // the exit policy does not stop at the first meet
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual std::string name() const = 0;
  // The next configuration (canonical or not: the tuner canonicalises), or nullopt when the
  // strategy has nothing more to try.
  virtual std::optional<Config> next(const StrategyContext& ctx) = 0;
  // The result of the configuration next() returned last (also when it was a repeat).
  virtual void observe(const TrialRecord& record, const StrategyContext& ctx) {}
};

// Throws (kInvalidInput) naming the strategies for an unknown name.
std::unique_ptr<Strategy> make_strategy(const std::string& name, uint64_t seed = 0);
const std::vector<std::string>& strategy_names();

// Factories, one per strategy file.
std::unique_ptr<Strategy> make_basic_strategy();
std::unique_ptr<Strategy> make_mse_strategy();
std::unique_ptr<Strategy> make_exhaustive_strategy();
std::unique_ptr<Strategy> make_random_strategy(uint64_t seed);
std::unique_ptr<Strategy> make_bayesian_strategy(uint64_t seed);
std::unique_ptr<Strategy> make_tpe_strategy(uint64_t seed);

// Shared by the strategies.
bool seen_before(const StrategyContext& ctx, const Config& c);  // canonical c among ctx.history
Config random_config(const TuningSpace& space,
                     uint64_t& state);  // canonical, uniform per dimension
// A random configuration not tried yet; nothing after `attempts` draws (a small space is
// exhausted).
std::optional<Config> unseen_random_config(const StrategyContext& ctx, uint64_t& state,
                                           int attempts = 1000);
uint64_t next_random(uint64_t& state);  // splitmix64
double uniform01(uint64_t& state);

}  // namespace tamp::tuning
