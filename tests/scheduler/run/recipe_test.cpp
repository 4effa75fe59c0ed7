// `tamp recipe validate` on every example recipe and on a bad one (the parser itself:
// tests/recipe/recipe_parse_test.cpp).
#include "run_test_support.h"

#include <tamp/scheduler/recipe.h>

#include <gtest/gtest.h>

namespace tamp::test {
namespace {

TEST(Recipe, ValidateAcceptsEveryExampleRecipe) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(source_dir() + "/examples/recipes")) {
    if (e.path().extension() != ".yaml") continue;
    ++n;
    const CliResult r = run_tamp({"recipe", "validate", e.path().string()});
    EXPECT_EQ(r.code, 0) << r.err;
  }
  EXPECT_GE(n, 7);
}

TEST(Recipe, ValidateReportsThePathAndExitsWithThree) {
  TempDir dir;
  std::ofstream(dir.file("bad.yaml")) << "model: m.onnx\nstages:\n  - {qat: {}}\n  - pruning: {pattern: \"2:4\", sparsity: x}\n";
  const CliResult r = run_tamp({"recipe", "validate", dir.file("bad.yaml")});
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("stages[1].pruning.sparsity: expected a number"), std::string::npos) << r.err;
  const CliResult missing = run_tamp({"recipe", "validate", dir.file("none.yaml")});
  EXPECT_EQ(missing.code, 3);
  EXPECT_EQ(run_tamp({"recipe"}).code, 2);
}

}  // namespace
}  // namespace tamp::test
