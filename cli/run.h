// `tamp run` as a function, for the commands that end in a run (`tamp compress`).
//
//   RunArgs a;  a.recipe = "runs/x/recipe.yaml";  a.out = "runs/x";
//   return run_recipe(a);   // exit code (0, or 4 when the export parity check fails)
#pragma once

#include <string>

namespace tamp::cli {

struct RunArgs {
  std::string recipe;
  std::string out;
  bool resume = false;
  bool overwrite = false;
  bool quiet = false;
  int threads = -1;
  bool sync_batch_norm = false;
};

// Runs the recipe's stages (mpirun: one rank each) and writes into `out` the exported model,
// checkpoint.h5, metrics.jsonl, summary.json and report.html. A tuning recipe (a `tuning:`
// section) is run by run_tune (tune.h) instead, into the same folder.
int run_recipe(const RunArgs& args);

}  // namespace tamp::cli
