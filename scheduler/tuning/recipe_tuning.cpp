#include <tamp/scheduler/detail/recipe_fields.h>
#include <tamp/scheduler/tuning/criterion.h>
#include <tamp/scheduler/tuning/quant_tuning.h>
#include <tamp/scheduler/tuning/recipe_tuning.h>
#include <tamp/scheduler/tuning/strategy.h>
#include <tamp/scheduler/tuning/tuner.h>

namespace tamp::tuning {

using recipe_detail::fail;

namespace {

// A list of scalars (numbers stay as written: "0.5").
std::vector<std::string> scalars(recipe_detail::Fields& f, const std::string& key,
                                 const std::vector<std::string>& allowed) {
  std::vector<std::string> out = f.strings(key);
  if (f.has(key) && out.empty()) fail(f.at(key), "expected at least one candidate");
  for (size_t i = 0; i < out.size() && !allowed.empty(); ++i) {
    if (std::find(allowed.begin(), allowed.end(), out[i]) == allowed.end()) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      fail(fmt::format("{}[{}]", f.at(key), i),
           fmt::format("'{}' is not one of: {}", out[i], list));
    }
  }
  return out;
}

}  // namespace

RecipeTuning read_recipe_tuning(recipe_detail::Fields& f) {
  RecipeTuning t;
  t.criterion = f.str("criterion", t.criterion);
  try {
    AccuracyCriterion::parse(t.criterion);
  } catch (const Error& e) {
    fail(f.at("criterion"), e.message());
  }
  t.strategy = f.choice("strategy", t.strategy, strategy_names());
  t.objective = f.str("objective", t.objective);
  try {
    Objective::parse(t.objective);
  } catch (const Error& e) {
    fail(f.at("objective"), e.message());
  }
  t.max_trials = static_cast<int>(f.integer("max_trials", t.max_trials, 1, 1 << 20));
  t.timeout = f.num("timeout", 0, 0);
  t.keep_improving = f.flag("keep_improving", false);
  t.calibration_batches = f.integer("calibration_batches", t.calibration_batches, 1, 1 << 20);
  t.granularity = scalars(f, "granularity", {"per_channel", "per_tensor"});
  t.scheme = scalars(f, "scheme", {"asym", "sym"});
  t.calibration = scalars(f, "calibration", {"minmax", "percentile", "entropy", "mse"});
  t.sparsity = scalars(f, "sparsity", {});
  for (size_t i = 0; i < t.sparsity.size(); ++i) {
    double v = -1;
    if (!YAML::convert<double>::decode(YAML::Node(t.sparsity[i]), v) || !(v >= 0 && v < 1)) {
      fail(fmt::format("{}[{}]", f.at("sparsity"), i),
           fmt::format("'{}' is not a level in [0, 1)", t.sparsity[i]));
    }
  }
  t.fallback = scalars(f, "fallback", {"bf16", "fp32"});
  t.exclude = f.strings("exclude");
  if (f.has("searchable")) {
    recipe_detail::Fields s(f.node("searchable"), f.at("searchable"));
    for (const std::string key : {"percentile", "weight_narrow_range"}) {
      if (s.has(key))
        t.searchable[key] = scalars(s, key,
                                    key == std::string("weight_narrow_range")
                                        ? std::vector<std::string>{"true", "false"}
                                        : std::vector<std::string>{});
    }
    s.finish();
  }
  t.history = f.str("history", t.history);
  if (t.history.empty() || std::filesystem::path(t.history).is_absolute() ||
      t.history.find("..") != std::string::npos) {
    fail(f.at("history"),
         fmt::format("'{}' must be a file name inside the output folder", t.history));
  }
  f.finish();
  return t;
}

QuantTuningOptions quant_tuning_options(const RecipeTuning& t) {
  QuantTuningOptions o;
  if (!t.granularity.empty()) o.granularities = t.granularity;
  if (!t.scheme.empty()) o.schemes = t.scheme;
  if (!t.calibration.empty()) o.calibrations = t.calibration;
  o.sparsities = t.sparsity;
  if (!t.fallback.empty()) o.fallbacks = t.fallback;
  o.exclude = t.exclude;
  o.searchable = t.searchable;
  o.calibration_batches = t.calibration_batches;
  o.objective = Objective::parse(t.objective);
  return o;
}

TunerOptions tuner_options(const RecipeTuning& t) {
  TunerOptions o;
  o.criterion = AccuracyCriterion::parse(t.criterion);
  o.exit = {
      .max_trials = t.max_trials, .timeout_seconds = t.timeout, .stop_at_first = !t.keep_improving};
  return o;
}

}  // namespace tamp::tuning
