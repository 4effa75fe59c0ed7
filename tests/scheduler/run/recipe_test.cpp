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
  std::ofstream(dir.file("bad.yaml"))
      << "model: m.onnx\nstages:\n  - {qat: {}}\n  - pruning: {pattern: \"2:4\", sparsity: x}\n";
  const CliResult r = run_tamp({"recipe", "validate", dir.file("bad.yaml")});
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("stages[1].pruning.sparsity: expected a number"), std::string::npos)
      << r.err;
  const CliResult missing = run_tamp({"recipe", "validate", dir.file("none.yaml")});
  EXPECT_EQ(missing.code, 3);
  EXPECT_EQ(run_tamp({"recipe"}).code, 2);
}

// validate reads what the recipe refers to: a missing model, teacher or dataset is named by
// its key; a recipe without quantization and without `export:` is valid (exported as float).
TEST(Recipe, ValidateChecksTheFilesTheRecipeReads) {
  TempDir dir;
  const std::string cnn = source_dir() + "/tests/data/models/cnn.onnx";
  auto validate = [&](const std::string& text) {
    std::ofstream(dir.file("r.yaml")) << text;
    return run_tamp({"recipe", "validate", dir.file("r.yaml")});
  };
  const CliResult model = validate("model: nowhere.onnx\nstages: [{name: a}]\n");
  EXPECT_EQ(model.code, 3);
  EXPECT_NE(model.err.find("model: '" + dir.file("nowhere.onnx") + "' does not exist"),
            std::string::npos)
      << model.err;
  const CliResult teacher =
      validate("model: " + cnn + "\nstages:\n  - distillation: {teacher: t.onnx}\n");
  EXPECT_EQ(teacher.code, 3);
  EXPECT_NE(teacher.err.find("stages[0].distillation.teacher: '" + dir.file("t.onnx") +
                             "' does not exist"),
            std::string::npos)
      << teacher.err;
  const CliResult hdf5 =
      validate("model: " + cnn + "\ndata: {dataset: hdf5:d.h5}\nstages: [{name: a}]\n");
  EXPECT_EQ(hdf5.code, 3);
  EXPECT_NE(hdf5.err.find("data.dataset: '" + dir.file("d.h5") + "' does not exist"),
            std::string::npos)
      << hdf5.err;
  const CliResult idx =
      validate("model: " + cnn + "\ndata: {dir: " + dir.file("none") + "}\nstages: [{name: a}]\n");
  EXPECT_EQ(idx.code, 3);
  EXPECT_NE(idx.err.find("data.dataset: Fashion-MNIST file"), std::string::npos) << idx.err;
  std::ofstream(dir.file("broken.onnx")) << "not a model";
  const CliResult broken = validate("model: broken.onnx\nstages: [{name: a}]\n");
  EXPECT_EQ(broken.code, 3);
  EXPECT_EQ(broken.err.find("does not exist"), std::string::npos) << broken.err;
  const CliResult plain = validate("model: " + cnn + "\nstages: [{pruning: {pattern: \"2:4\"}}]\n");
  EXPECT_EQ(plain.code, 0) << plain.err;
  EXPECT_NE(plain.out.find("export float"), std::string::npos) << plain.out;
  EXPECT_NE(plain.out.find("stage0: pruning"), std::string::npos) << plain.out;
}

}  // namespace
}  // namespace tamp::test
