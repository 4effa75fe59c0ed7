// Where the page's recipes come from: a goal ("int8", "2:4+int8", ...) for a model and a
// dataset becomes the text of `tamp recipe new`'s recipe (scheduler/recipe_generator.h), for
// the goals whose recipes have stages (the page shows training progress of `tamp run`).
//
//   RecipeRequest q{.model = "/m/cnn.onnx", .data = {.dataset = "fashion-mnist", .dir = "/d/fm"},
//                   .goal = "2:4+int8", .epochs = 1, .steps_per_epoch = 20, .limit = 512};
//   std::string yaml = generate_recipe(q);     // parse_recipe(yaml) accepts it
#pragma once

#include "ui/catalog.h"

#include <tamp/scheduler/recipe_generator.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tamp::cli::ui {

// The goals the page offers.
std::vector<RecipeGoal> recipe_goals();

struct RecipeRequest {
  std::string model;  // absolute path of the ONNX file
  RecipeDataChoice data;
  std::string goal;  // one of recipe_goals()
  int epochs = 1;
  int64_t steps_per_epoch = -1;  // -1: whole epochs
  int64_t limit = -1;            // training examples (-1: all)
  int64_t eval_limit = -1;       // evaluation examples
};

// The recipe's YAML, commented. Throws kInvalidInput for a goal the page does not offer,
// values out of range and what the generator refuses (a model 2:4 cannot prune, ...).
std::string generate_recipe(const RecipeRequest& request);

}  // namespace tamp::cli::ui
