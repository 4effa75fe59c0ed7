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

struct RecipeTuning {
  std::string criterion = "relative:0.01";
  std::string strategy = "basic";
  std::string objective = "size";
  int max_trials = 100;
  double timeout = 0;
  bool keep_improving = false;
  uint64_t seed = 0;                 // the recipe's seed
  int64_t calibration_batches = 8;
  std::vector<std::string> granularity, scheme, calibration, sparsity, exclude;  // empty: defaults
  std::vector<std::string> fallback;  // bf16, fp32 or both; empty: fp32
  std::map<std::string, std::vector<std::string>> searchable;
  std::string history = "tuning.jsonl";  // a file name inside the output folder
};

// Reads the section (and finish()es it): values checked, errors name their path
// ("tuning.criterion: ...").
RecipeTuning read_recipe_tuning(recipe_detail::Fields& f);

}  // namespace tuning
}  // namespace tamp
