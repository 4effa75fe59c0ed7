// Where the page's recipes come from: a goal ("int8", "2:4+int8", ...) for a model and a
// dataset becomes the text of a recipe, which the page shows for editing before a run.
//
// This is the one place that makes recipes for the UI. For now it starts from the example
// recipes compiled into the binary (examples/recipes); when `tamp recipe new MODEL --goal G`
// (which inspects the graph) is in the library, generate_recipe calls it instead.
//
//   RecipeRequest q{.model = "/m/cnn.onnx", .data = {.dataset = "fashion-mnist", .dir = "/d/fm"},
//                   .goal = "2:4+int8", .epochs = 1, .steps_per_epoch = 20, .limit = 512};
//   std::string yaml = generate_recipe(q);     // parse_recipe(yaml) accepts it
#pragma once

#include "ui/catalog.h"

#include <cstdint>
#include <string>
#include <vector>

namespace tamp::cli::ui {

struct Goal {
  std::string name;          // as `tamp recipe new --goal` spells it
  std::string description;
};
const std::vector<Goal>& recipe_goals();

struct RecipeRequest {
  std::string model;               // absolute path of the ONNX file
  RecipeDataChoice data;
  std::string goal;                // one of recipe_goals()
  int epochs = 1;
  int64_t steps_per_epoch = -1;    // -1: whole epochs
  int64_t limit = -1;              // training examples (-1: all)
  int64_t eval_limit = -1;         // evaluation examples
};

// The recipe's YAML, commented with where it came from. Throws kInvalidInput for an unknown
// goal or values out of range.
std::string generate_recipe(const RecipeRequest& request);

}  // namespace tamp::cli::ui
