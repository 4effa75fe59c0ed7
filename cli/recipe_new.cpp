#include "recipe_new.h"

#include <tamp/io/onnx_import.h>
#include <tamp/scheduler/recipe_generator.h>

#include <fmt/format.h>

#include <cctype>
#include <filesystem>

namespace tamp::cli {

namespace {

namespace fs = std::filesystem;

// Relative to `recipe_dir` (where the recipe goes), absolute when there is none.
std::string path_for(const std::string& file, const std::string& recipe_dir) {
  const fs::path abs = fs::absolute(file).lexically_normal();
  return recipe_dir.empty() ? abs.string() : fs::relative(abs, fs::absolute(recipe_dir)).string();
}

bool is_hdf5_file(const std::string& p) { return p.ends_with(".h5") || p.ends_with(".hdf5"); }

std::string hdf5_spec(const std::string& file, const std::string& option,
                      const std::string& recipe_dir) {
  if (!fs::is_regular_file(file))
    throw Error(fmt::format("{} '{}': no such file", option, file), ErrorKind::kIo);
  return "hdf5:" + path_for(file, recipe_dir);
}

RecipeData data_for(const RecipeNewArgs& a, const std::string& recipe_dir) {
  RecipeData d;
  const std::string& spec = a.data.spec;
  if (spec == "fashion-mnist" || (!spec.empty() && fs::is_directory(spec))) {
    d.dataset = "fashion-mnist";
    // data.dir is read from the working folder of the run, not the recipe's: absolute.
    d.dir =
        fs::absolute(spec == "fashion-mnist" ? a.data.data_dir : spec).lexically_normal().string();
  } else if (spec.rfind("hdf5:", 0) == 0 || is_hdf5_file(spec)) {
    d.dataset =
        hdf5_spec(spec.rfind("hdf5:", 0) == 0 ? spec.substr(5) : spec, "--dataset", recipe_dir);
    if (a.eval_dataset.empty()) {
      throw UsageError("--dataset " + spec +
                       ": an HDF5 training set needs --eval-dataset FILE.h5 (the evaluation set)");
    }
  } else {
    throw UsageError(
        fmt::format("--dataset '{}': expected fashion-mnist, a folder of the Fashion-MNIST files, "
                    "FILE.h5 or hdf5:FILE.h5",
                    spec));
  }
  if (!a.eval_dataset.empty()) {
    const std::string e =
        a.eval_dataset.rfind("hdf5:", 0) == 0 ? a.eval_dataset.substr(5) : a.eval_dataset;
    d.eval_dataset = hdf5_spec(e, "--eval-dataset", recipe_dir);
  }
  d.limit = a.data.limit;
  d.eval_limit = a.eval_limit;
  d.normalize = a.data.normalize;
  return d;
}

}  // namespace

void add_recipe_new_options(CLI::App& sub, RecipeNewArgs& a) {
  sub.add_option("model", a.model, "the model to compress")->required()->type_name("MODEL.onnx");
  std::string goals;
  for (const auto& g : recipe_goals()) goals += fmt::format("\n  {:<20} {}", g.name, g.description);
  sub.add_option("--goal", a.goal, "what to make of the model (docs/zero_code.md):" + goals)
      ->required()
      ->type_name("GOAL");
  add_dataset_options(sub, a.data, "fashion-mnist");
  sub.add_option("--eval-dataset", a.eval_dataset, "the evaluation set of an HDF5 training set")
      ->type_name("FILE.h5");
  sub.add_option("--eval-limit", a.eval_limit, "evaluate on the first N examples")
      ->check(CLI::PositiveNumber)
      ->type_name("N");
  sub.add_option("--epochs", a.epochs, "training epochs")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  sub.add_option("--steps", a.steps, "steps per epoch at most (default: whole epochs)")
      ->check(CLI::PositiveNumber)
      ->type_name("N");
  sub.add_option("--batch", a.batch, "examples per step (and per calibration batch)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
}

std::string run_name(const RecipeNewArgs& a) {
  std::string goal;
  for (char c : a.goal) {
    if (c == ':')
      goal += !goal.empty() && std::isdigit(static_cast<unsigned char>(goal.back())) ? "of" : "_";
    else if (c == '%')
      goal += "pct";
    else
      goal += std::isalnum(static_cast<unsigned char>(c)) || c == '.' ? c : '_';
  }
  return fs::path(a.model).stem().string() + "_" + goal;
}

std::string recipe_for(const RecipeNewArgs& a, const std::string& recipe_dir,
                       const std::string& origin) {
  check_recipe_goal(a.goal);
  if (!fs::is_regular_file(a.model))
    throw Error(fmt::format("'{}': no such file", a.model), ErrorKind::kIo);
  nn::Graph graph;
  TAMP_WITH_CONTEXT(fmt::format("model '{}'", a.model), graph = io::load_onnx_graph(a.model));
  RecipeRequest q;
  q.goal = a.goal;
  q.model = path_for(a.model, recipe_dir);
  q.data = data_for(a, recipe_dir);
  q.epochs = a.epochs;
  q.steps_per_epoch = a.steps;
  q.batch_size = a.batch;
  q.export_path = run_name(a) + ".onnx";
  q.origin = origin;
  std::string text;
  TAMP_WITH_CONTEXT(fmt::format("model '{}'", a.model), text = generate_recipe(graph, q));
  return text;
}

}  // namespace tamp::cli
