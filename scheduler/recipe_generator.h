// A recipe written for one model and a goal (`tamp recipe new`, `tamp compress`, `tamp ui`):
// the graph is surveyed (model_survey.h) and the recipe's comments say what was found and why
// each setting was chosen; `tamp run` runs it unchanged. Goals and rules: docs/zero_code.md
//
//   RecipeRequest q{.goal = "2:4+int8", .model = "cnn.onnx",
//                   .data = {.dataset = "fashion-mnist", .limit = 640}, .steps_per_epoch = 10};
//   std::string yaml = generate_recipe(io::load_onnx_graph("cnn.onnx"), q);
#pragma once

#include <tamp/nn/graph.h>
#include <tamp/scheduler/recipe.h>

#include <string>
#include <vector>

namespace tamp {

struct RecipeGoal {
  std::string name;  // as --goal spells it ("smallest-within:1%" stands for any X)
  std::string description;
  bool trains = true;  // false: the recipe calibrates or tunes only
};
const std::vector<RecipeGoal>& recipe_goals();
// Throws (kInvalidInput) naming the goals for anything else; smallest-within:X% needs
// 0 < X < 100.
void check_recipe_goal(const std::string& goal);
// smallest-within:X%: a tuning recipe (run by `tamp run` and `tamp tune`).
bool is_tuning_goal(const std::string& goal);

struct RecipeRequest {
  std::string goal;
  std::string model;  // written as `model:` (relative: to the recipe's folder)
  RecipeData data;    // written as the data section (normalize "": the model's
                      // input is fed as the dataset holds it)
  int epochs = 1;
  int64_t steps_per_epoch = -1;  // -1: whole epochs
  int64_t batch_size = 64;
  std::string export_path = "model.onnx";
  std::string origin = "tamp recipe new";  // what wrote the recipe, in its first line
};

// The recipe's YAML. Throws kInvalidInput for an unknown goal, values out of range, a model
// with several inputs, nothing quantizable (int8 goals) or nothing 2:4 can prune (naming why
// for each layer).
std::string generate_recipe(const nn::Graph& graph, const RecipeRequest& request);

}  // namespace tamp
