// Accuracy-aware static int8 quantization as the CLI runs it, shared by `tamp tune`
// (cli/tune.cpp) and `tamp quantize --method static --accuracy-criterion ...`
// (cli/quantize.cpp).
//
//   TuneArgs t;  t.model.path = "cnn.onnx";  t.out = "cnn_int8.onnx";  t.strategy = "mse";
//   return run_tune(t);   // exit code: 0 criterion met, 1 not met (best model written),
//                         // 4 the written model fails the export parity check
#pragma once

#include "common.h"
#include "export_target_options.h"

#include <tamp/scheduler/tuning/recipe_tuning.h>

#include <string>
#include <vector>

namespace tamp::cli {

struct TuneArgs {
  ModelArg model;
  std::string out;
  // What is searched and when to stop, as a recipe's tuning: section says it (its history
  // field, a file name in a recipe's output folder, is not read: see history).
  tuning::RecipeTuning search;
  std::string history;  // "" = tuning.jsonl next to --out
  DatasetArgs calib{.spec = "fashion-mnist:train"};
  std::string eval_data = "fashion-mnist:test";
  int64_t eval_limit = -2;  // -2: as --limit
  int64_t eval_max_batches = -1;
  int64_t batch = 64;
  std::vector<std::string> searchable;  // --searchable KEY=V1,V2 items, added to search.searchable
  std::string format = "qdq";
  std::string input, output;
  bool json = false;
  int threads = 0;
  TargetArgs target;  // --target, --parity-arithmetic
};

// A path ending in .yaml / .yml is a recipe with a tuning: section; the other fields then
// come from it (except out = the output folder, json, threads).
int run_tune(const TuneArgs& args);

}  // namespace tamp::cli
