#include "ui/recipe_source.h"
#include "ui/embedded_files.h"

#include <tamp/autograd/error.h>
#include <tamp/scheduler/recipe.h>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <utility>

namespace tamp::cli::ui {

namespace {

// A goal as an example recipe: which file, which of its stages (by name), what becomes of
// them, and the export format.
struct GoalTemplate {
  const char* goal;
  const char* example;
  std::vector<std::string> stages;
  bool drop_pruning;               // int8-qat: the example prunes while it trains with QAT
  const char* export_format;
};

const std::vector<GoalTemplate>& templates() {
  static const std::vector<GoalTemplate> t{
      {"int8", "multishot_prune_ptq.yaml", {"ptq"}, false, "qdq"},
      {"int8-qat", "oneshot_prune_qat.yaml", {"prune+qat"}, true, "qdq"},
      {"2:4", "multishot_prune_ptq.yaml", {"prune"}, false, "float"},
      {"2:4+int8", "multishot_prune_ptq.yaml", {"prune", "ptq"}, false, "qdq"},
  };
  return t;
}

const GoalTemplate& template_for(const std::string& goal) {
  for (const auto& t : templates()) {
    if (t.goal == goal) return t;
  }
  std::string known;
  for (const auto& t : templates()) known += (known.empty() ? "" : ", ") + std::string(t.goal);
  throw Error(fmt::format("unknown goal '{}'", goal), ErrorKind::kInvalidInput, "pick one of " + known);
}

}  // namespace

const std::vector<Goal>& recipe_goals() {
  static const std::vector<Goal> goals{
      {"int8", "static int8 quantization after training (calibration only)"},
      {"int8-qat", "int8 quantization-aware training"},
      {"2:4", "2:4 sparsity while fine-tuning, float export"},
      {"2:4+int8", "2:4 sparsity while fine-tuning, then static int8"},
  };
  return goals;
}

std::string generate_recipe(const RecipeRequest& q) {
  const GoalTemplate& t = template_for(q.goal);
  TAMP_CHECK(q.epochs >= 1 && q.epochs <= 1000, "epochs must be between 1 and 1000, not {}", q.epochs);
  TAMP_CHECK(q.steps_per_epoch == -1 || q.steps_per_epoch >= 1, "steps per epoch must be positive (or -1: all)");
  TAMP_CHECK(q.limit == -1 || q.limit >= 1, "the training example limit must be positive (or -1: all)");
  TAMP_CHECK(q.eval_limit == -1 || q.eval_limit >= 1, "the evaluation example limit must be positive (or -1: all)");
  const EmbeddedFile* file = find_embedded(example_recipes(), t.example);
  TAMP_CHECK(file, "the example recipe {} is not compiled into this binary", t.example);
  YAML::Node r = YAML::Load(std::string(file->bytes));
  r.remove("definitions");   // its anchors are resolved into the nodes that used them

  r["model"] = q.model;
  YAML::Node data = r["data"];
  data["dataset"] = q.data.dataset;
  if (!q.data.dir.empty()) data["dir"] = q.data.dir;
  if (!q.data.eval_dataset.empty()) data["eval_dataset"] = q.data.eval_dataset;
  if (q.limit > 0) data["limit"] = q.limit;
  if (q.eval_limit > 0) data["eval_limit"] = q.eval_limit;

  YAML::Node training = r["training"];
  training["epochs"] = q.epochs;
  if (q.steps_per_epoch > 0) training["steps_per_epoch"] = q.steps_per_epoch;
  // A short run logs and prunes more often than the examples' every 50 steps, so that the
  // page's plots have points and pruning reaches its target.
  // An epoch ends when the data does: `limit` examples make limit / batch steps at most.
  const YAML::Node batch_node = std::as_const(training)["batch_size"];   // const: a lookup adds no key
  const int64_t batch = batch_node ? batch_node.as<int64_t>() : RecipeTraining{}.batch_size;
  int64_t per_epoch = q.steps_per_epoch;
  if (q.limit > 0) per_epoch = std::min(per_epoch > 0 ? per_epoch : q.limit, std::max<int64_t>(1, q.limit / batch));
  const int64_t steps = per_epoch > 0 ? per_epoch * q.epochs : -1;
  const int64_t every = steps > 0 ? std::clamp<int64_t>(steps / 20, 1, 50) : 50;
  training["log_every"] = every;

  YAML::Node stages(YAML::NodeType::Sequence);
  for (const YAML::Node& s : r["stages"]) {
    const std::string name = s["name"].as<std::string>();
    if (std::find(t.stages.begin(), t.stages.end(), name) == t.stages.end()) continue;
    YAML::Node stage = YAML::Clone(s);
    if (t.drop_pruning) {
      stage.remove("pruning");
      stage["name"] = "qat";
    }
    if (stage["pruning"] && stage["pruning"]["schedule"]) {
      stage["pruning"]["schedule"]["frequency"] = std::clamp<int64_t>(steps > 0 ? steps / 10 : 50, 1, 50);
      stage["pruning"]["schedule"]["end_epoch"] = std::max(1, q.epochs - 1);
    }
    stages.push_back(stage);
  }
  r["stages"] = stages;
  r["export"]["format"] = t.export_format;

  YAML::Emitter out;
  out << r;
  return fmt::format("# tamp ui: goal '{}', from the example recipe {} (docs/ui.md)\n{}\n", q.goal, t.example,
                     out.c_str());
}

}  // namespace tamp::cli::ui
