// The options of `tamp recipe new` and `tamp compress` (the same recipe either way), and the
// recipe they make: scheduler/recipe_generator.h with the CLI's dataset choices.
//
//   RecipeNewArgs a;  a.model = "cnn.onnx";  a.goal = "2:4+int8";
//   std::string yaml = recipe_for(a, "runs/cnn", "tamp compress");
#pragma once

#include "common.h"

#include <string>

namespace tamp::cli {

struct RecipeNewArgs {
  std::string model;
  std::string goal;
  DatasetArgs data;          // spec: fashion-mnist (the default), a folder of
                             // its IDX files, FILE.h5 or hdf5:FILE.h5
  std::string eval_dataset;  // FILE.h5 (an HDF5 training set needs one)
  int64_t eval_limit = -1;
  int epochs = 1;
  int64_t steps = -1;  // per epoch (-1: whole epochs)
  int64_t batch = 64;
};

// MODEL.onnx, --goal, --dataset, --data-dir, --limit, --normalize, --eval-dataset,
// --eval-limit, --epochs, --steps, --batch.
void add_recipe_new_options(CLI::App& sub, RecipeNewArgs& args);

// "cnn_2of4_int8": a file or folder name for the model and goal.
std::string run_name(const RecipeNewArgs& args);

// The recipe's text, its model and HDF5 paths relative to `recipe_dir` (the folder the recipe
// is written to); `origin` names the command in its first comment. Throws tamp::Error for a
// missing or malformed model and the generator's errors, UsageError for a dataset that is
// neither fashion-mnist, a folder nor an HDF5 file.
std::string recipe_for(const RecipeNewArgs& args, const std::string& recipe_dir,
                       const std::string& origin);

}  // namespace tamp::cli
