// tamp recipe validate FILE: parses a recipe strictly (scheduler/recipe.h) and checks the files
// it reads (model, teachers, datasets) without running it; errors name the path of the bad
// value (exit code 3). --json prints the parsed outline.
// tamp recipe new MODEL.onnx --goal G [--out FILE]: a commented recipe for that model
// (scheduler/recipe_generator.h), on stdout or into FILE.
#include "common.h"
#include "recipe_new.h"

#include <tamp/scheduler/recipe.h>

#include <fmt/format.h>

#include <filesystem>
#include <fstream>

namespace tamp::cli {

namespace {

// The action of `tamp recipe new`, once `create` is parsed.
Action setup_new(CLI::App* create) {
  auto a = std::make_shared<RecipeNewArgs>();
  auto out = std::make_shared<std::string>();
  auto overwrite = std::make_shared<bool>(false);
  add_recipe_new_options(*create, *a);
  create->add_option("--out", *out, "write the recipe here (default: stdout, with absolute paths)")
      ->type_name("FILE.yaml");
  create->add_flag("--overwrite", *overwrite, "replace FILE when it exists");
  return [a, out, overwrite] {
    if (out->empty()) {
      fmt::print("{}", recipe_for(*a, "", "tamp recipe new"));
      return kExitOk;
    }
    check_output_folder(*out, "--out");
    if (std::filesystem::exists(*out) && !*overwrite) {
      throw Error(fmt::format("--out '{}' exists", *out), ErrorKind::kInvalidInput,
                  "pass --overwrite to replace it");
    }
    const std::filesystem::path dir = std::filesystem::path(*out).parent_path();
    const std::string text = recipe_for(*a, dir.empty() ? "." : dir.string(), "tamp recipe new");
    std::ofstream(*out) << text;
    const Recipe r = load_recipe(*out);  // the generator's output, read as `tamp run` will
    fmt::print("wrote {}: goal {}, {}, export {}\n", *out, a->goal,
               r.tuning ? "accuracy-aware tuning" : fmt::format("{} stage(s)", r.stages.size()),
               r.export_.format);
    return kExitOk;
  };
}

}  // namespace

Action setup_recipe(CLI::App& sub) {
  sub.require_subcommand(1);
  CLI::App* create =
      sub.add_subcommand("new",
                         "Write a commented recipe for a model and a goal (int8, int8-qat, 2:4, "
                         "2:4+int8, smallest-within:X%)");
  const Action create_action = setup_new(create);
  CLI::App* validate = sub.add_subcommand(
      "validate", "Check a recipe against the format and the files it reads, without running it");
  auto file = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  validate->add_option("file", *file, "the recipe")->required()->type_name("RECIPE.yaml");
  add_json_flag(*validate, *json);
  return [create, create_action, file, json] {
    if (create->parsed()) return create_action();
    const Recipe r = load_recipe(*file);
    check_recipe_files(r);
    nlohmann::ordered_json stages = nlohmann::ordered_json::array();
    for (size_t i = 0; i < r.stages.size(); ++i) {
      stages.push_back(
          {{"name", r.stages[i].name.empty() ? fmt::format("stage{}", i) : r.stages[i].name},
           {"components", component_keys(r.stages[i])}});
    }
    if (*json) {
      print_json({{"file", *file},
                  {"valid", true},
                  {"hash", r.hash},
                  {"model", r.model},
                  {"stages", stages},
                  {"export", r.export_.format}});
      return kExitOk;
    }
    fmt::print("{}: valid, {} stage(s), export {}\n", *file, r.stages.size(), r.export_.format);
    for (const auto& s : stages) {
      std::string comps;
      for (const auto& c : s["components"])
        comps += (comps.empty() ? "" : " + ") + c.get<std::string>();
      fmt::print("  {}: {}\n", s["name"].get<std::string>(), comps.empty() ? "fine-tuning" : comps);
    }
    return kExitOk;
  };
}

}  // namespace tamp::cli
