#include <tamp/autograd/error.h>
#include <tamp/scheduler/tuning/strategy.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace tamp::tuning {

const std::vector<std::string>& strategy_names() {
  static const std::vector<std::string> kNames{"basic",  "mse",      "exhaustive",
                                               "random", "bayesian", "tpe"};
  return kNames;
}

std::unique_ptr<Strategy> make_strategy(const std::string& name, uint64_t seed) {
  if (name == "basic") return make_basic_strategy();
  if (name == "mse") return make_mse_strategy();
  if (name == "exhaustive") return make_exhaustive_strategy();
  if (name == "random") return make_random_strategy(seed);
  if (name == "bayesian") return make_bayesian_strategy(seed);
  if (name == "tpe") return make_tpe_strategy(seed);
  throw Error(fmt::format("tuning strategy '{}' is unknown; use one of {}", name,
                          fmt::join(strategy_names(), ", ")),
              ErrorKind::kInvalidInput);
}

bool seen_before(const StrategyContext& ctx, const Config& c) {
  const Config k = ctx.space.canonical(c);
  for (const auto& r : ctx.history)
    if (r.config == k) return true;
  return false;
}

uint64_t next_random(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double uniform01(uint64_t& state) {
  return static_cast<double>(next_random(state) >> 11) * 0x1.0p-53;
}

Config random_config(const TuningSpace& space, uint64_t& state) {
  Config c(space.size());
  for (size_t i = 0; i < c.size(); ++i) {
    c[i] = static_cast<int>(next_random(state) % space.dimensions()[i].values.size());
  }
  return space.canonical(c);
}

std::optional<Config> unseen_random_config(const StrategyContext& ctx, uint64_t& state,
                                           int attempts) {
  for (int i = 0; i < attempts; ++i) {
    Config c = random_config(ctx.space, state);
    if (!seen_before(ctx, c)) return c;
  }
  return std::nullopt;
}

}  // namespace tamp::tuning
