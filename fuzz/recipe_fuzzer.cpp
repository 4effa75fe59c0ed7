// libFuzzer target: recipe files (scheduler/recipe.h), read from a file as `tamp run` does.
// Any input must parse or give a tamp::Error (yaml-cpp's own exceptions included); a recipe
// that parses must parse again to the same hash and give its fit options.
#include <tamp/scheduler/recipe.h>

#include "fuzz_input.h"

#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tamp;
  try {
    const Recipe r = load_recipe(fuzz::write_input_file(data, size, ".yaml"));
    const std::string text(reinterpret_cast<const char*>(data), size);
    if (parse_recipe(text, r.base_dir, "again").hash != r.hash) std::abort();
    (void)fit_options(r);
  } catch (const Error&) {}
  return 0;
}
