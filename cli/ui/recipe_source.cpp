#include "ui/recipe_source.h"

#include <tamp/autograd/error.h>
#include <tamp/io/onnx_import.h>

#include <fmt/format.h>

namespace tamp::cli::ui {

std::vector<RecipeGoal> recipe_goals() {
  std::vector<RecipeGoal> goals;
  for (const RecipeGoal& g : tamp::recipe_goals()) {
    if (!is_tuning_goal(g.name)) goals.push_back(g);
  }
  return goals;
}

std::string generate_recipe(const RecipeRequest& q) {
  if (is_tuning_goal(q.goal)) {
    throw Error(
        fmt::format("goal '{}' tunes without training: run it with `tamp compress`", q.goal),
        ErrorKind::kInvalidInput);
  }
  tamp::RecipeRequest r;
  r.goal = q.goal;
  r.model = q.model;
  r.data.dataset = q.data.dataset;
  r.data.dir = q.data.dir;
  r.data.eval_dataset = q.data.eval_dataset;
  r.data.limit = q.limit;
  r.data.eval_limit = q.eval_limit;
  r.epochs = q.epochs;
  r.steps_per_epoch = q.steps_per_epoch;
  r.origin = "tamp ui";
  return tamp::generate_recipe(io::load_onnx_graph(q.model), r);
}

}  // namespace tamp::cli::ui
