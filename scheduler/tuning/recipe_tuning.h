// The `tuning:` section of a recipe (recipe.h): accuracy-aware post-training quantization of
// the recipe's model, run by `tamp tune RECIPE.yaml`. A tuning recipe has no stages; model,
// data, input/output, seed, training.batch_size and export come from the rest of the recipe.
//
//   tuning:
//     criterion: relative:0.01          # or absolute:0.005
//     strategy: basic                   # basic | mse | exhaustive | random | bayesian | tpe
//     objective: size                   # size | bops | "latency:./bench.sh {model}"
//     max_trials: 50
//     timeout: 600                      # seconds, 0: none
//     keep_improving: false
//     calibration_batches: 8
//     calibration: [minmax, entropy]    # searched candidates (default: all four)
//     granularity: [per_channel, per_tensor]
//     scheme: [asym, sym]
//     sparsity: [0, 0.5, 0.75]          # per-layer levels (default: none)
//     searchable: {percentile: [99.9, 99.99]}
//     exclude: [/fc3/Gemm]
//     history: tuning.jsonl             # in the output folder
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
