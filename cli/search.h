// `tamp search` shared by its files: the parsed options (declared in cli/search_options.cpp)
// and the command that runs them (cli/search.cpp).
//
//   return run_search(args);   // the exit code
#pragma once

#include "common.h"

#include <tamp/scheduler/search/architecture_search.h>

#include <cstdint>
#include <string>

namespace tamp::cli {

struct SearchArgs {
  ModelArg model;
  DatasetArgs data;
  std::string out_dir;
  search::SearchOptions options;
  std::string width_ratios, seed_ratios, objectives = "macs";
  bool no_heads = false, no_depth = false;
  int supernet_epochs = -1;  // -1: 2 for dynas, 0 for basic
  int finetune_epochs = 1;
  int64_t steps = -1;
  double lr = 0.01;
  int64_t val_size = 5000;
  std::string ort_runner;
  int latency_runs = 50;
  int64_t latency_batch = 1;
  bool compare_uniform = false;
  bool json = false;
  int threads = 0;
};

// The command: search, fine-tune and export the chosen candidate, write summary.json and
// report.html (and --compare-uniform's rows); the exit code.
int run_search(SearchArgs a);

}  // namespace tamp::cli
