// tamp compress MODEL.onnx --goal G [--dataset D] [--out DIR]: `tamp recipe new` and `tamp run`
// in one command. The recipe is written to DIR/recipe.yaml beside what the run writes, so the
// run can be repeated or edited; an earlier run in DIR is refused unless --overwrite.
#include "common.h"
#include "recipe_new.h"
#include "run.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>

namespace tamp::cli {

Action setup_compress(CLI::App& sub) {
  auto a = std::make_shared<RecipeNewArgs>();
  auto run = std::make_shared<RunArgs>();
  add_recipe_new_options(sub, *a);
  sub.add_option("--out", run->out,
                 "output folder: recipe.yaml, the exported model, report (default: "
                 "runs/<model>_<goal>)")
      ->type_name("DIR");
  sub.add_flag("--overwrite", run->overwrite, "replace the run DIR holds");
  sub.add_flag("--quiet", run->quiet, "no progress output");
  sub.add_option("--threads", run->threads, "OpenMP threads (default: OpenMP's)")
      ->check(CLI::NonNegativeNumber);
  return [a, run] {
    namespace fs = std::filesystem;
    RunArgs r = *run;
    if (r.out.empty()) r.out = (fs::path("runs") / run_name(*a)).string();
    r.recipe = (fs::path(r.out) / "recipe.yaml").string();
    if (fs::exists(r.recipe) && !r.overwrite) {
      throw Error(fmt::format("'{}' holds another run (recipe.yaml)", r.out),
                  ErrorKind::kInvalidInput, "replace it with --overwrite, or pass another --out");
    }
    const std::string text =
        recipe_for(*a, r.out, "tamp compress");  // before the folder: nothing left on error
    fs::create_directories(r.out);
    std::ofstream(r.recipe) << text;
    if (!r.quiet) fmt::print("wrote {} (goal {})\n", r.recipe, a->goal);
    return run_recipe(r);
  };
}

}  // namespace tamp::cli
