// The `tuning:` section of a recipe (recipe.h): accuracy-aware post-training quantization of
// the recipe's model, run by `tamp tune RECIPE.yaml`; a tuning recipe has no stages, the rest
// of the recipe gives model, data and export. The keys: docs/tuning.md
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tamp {
namespace recipe_detail {
class Fields;
}

namespace tuning {

struct QuantTuningOptions;
struct TunerOptions;

// Also the settings of `tamp tune` and `tamp quantize --accuracy-criterion`, which fill it from
// their flags: one struct, one mapping to the tuner's options below.
struct RecipeTuning {
  std::string criterion = "relative:0.01";
  std::string strategy = "basic";
  std::string objective = "size";
  int max_trials = 100;
  double timeout = 0;
  bool keep_improving = false;
  uint64_t seed = 0;  // the recipe's seed
  int64_t calibration_batches = 8;
  std::vector<std::string> granularity, scheme, calibration, sparsity, exclude;  // empty: defaults
  std::vector<std::string> fallback;  // bf16, fp32 or both; empty: fp32
  std::map<std::string, std::vector<std::string>> searchable;
  std::string history = "tuning.jsonl";  // a file name inside the output folder
};

// Reads the section (and finish()es it): values checked, errors name their path
// ("tuning.criterion: ...").
RecipeTuning read_recipe_tuning(recipe_detail::Fields& f);

// The search the settings describe: candidate lists (empty ones keep QuantTuningOptions'
// defaults), sparsity levels, exclusions, searchable values, calibration batches and the
// objective. The caller adds the datasets, batch size, evaluation options, target and work
// folder. Throws (kInvalidInput) for an objective Objective::parse refuses.
QuantTuningOptions quant_tuning_options(const RecipeTuning& t);
// The criterion and the exit policy (max_trials, timeout, keep_improving); the caller adds the
// history path and the progress callback.
TunerOptions tuner_options(const RecipeTuning& t);

}  // namespace tuning
}  // namespace tamp
