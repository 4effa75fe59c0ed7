// tamp recipe validate FILE: parses a recipe strictly (scheduler/recipe.h) and checks the files
// it reads (model, teachers, datasets) without running it; errors name the path of the bad
// value (exit code 3). --json prints the parsed outline.
#include "common.h"

#include <tamp/scheduler/recipe.h>

#include <fmt/format.h>

namespace tamp::cli {

Action setup_recipe(CLI::App& sub) {
  sub.require_subcommand(1);
  CLI::App* validate =
      sub.add_subcommand("validate", "Check a recipe against the format and the files it reads, without running it");
  auto file = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  validate->add_option("file", *file, "the recipe")->required()->type_name("RECIPE.yaml");
  add_json_flag(*validate, *json);
  return [file, json] {
    const Recipe r = load_recipe(*file);
    check_recipe_files(r);
    nlohmann::ordered_json stages = nlohmann::ordered_json::array();
    for (size_t i = 0; i < r.stages.size(); ++i) {
      stages.push_back({{"name", r.stages[i].name.empty() ? fmt::format("stage{}", i) : r.stages[i].name},
                        {"components", component_keys(r.stages[i])}});
    }
    if (*json) {
      print_json({{"file", *file}, {"valid", true}, {"hash", r.hash}, {"model", r.model}, {"stages", stages},
                  {"export", r.export_.format}});
      return kExitOk;
    }
    fmt::print("{}: valid, {} stage(s), export {}\n", *file, r.stages.size(), r.export_.format);
    for (const auto& s : stages) {
      std::string comps;
      for (const auto& c : s["components"]) comps += (comps.empty() ? "" : " + ") + c.get<std::string>();
      fmt::print("  {}: {}\n", s["name"].get<std::string>(), comps.empty() ? "fine-tuning" : comps);
    }
    return kExitOk;
  };
}

}  // namespace tamp::cli
