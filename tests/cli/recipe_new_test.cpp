// `tamp recipe new` and `tamp compress` run as a user runs them: every test model and goal
// gives a recipe `tamp recipe validate` accepts; short runs of generated recipes (the CNN, the
// MLP, the transformer on Fashion-MNIST images cut into 64 tokens of 16 pixels) export models
// whose accuracy ONNX Runtime reproduces, with 2:4 where the recipe prunes and dense layers
// where it excludes; bad goals, files and models are refused with clear errors.
#include "tamp_runner.h"

#include "support/lone_gemm.h"
#include "support/ort_runner.h"
#include "support/test_data.h"

#include <tamp/io/idx.h>
#include <tamp/io/onnx_export.h>

#include <H5Cpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>

namespace tamp::test {
namespace {

namespace fs = std::filesystem;

const nn::TrainTest& fashion_mnist() {
  static const nn::TrainTest data = io::fashion_mnist("/usr/share/datasets/fashion-mnist");
  return data;
}

// Top-1 of `model` in ONNX Runtime on (x, y).
double ort_top1(const std::string& model, const Tensor& x, const Tensor& y) {
  const Tensor logits = run_ort(model, {{"input", x}}).at("logits");
  const int64_t n = x.dim(0), classes = logits.dim(1);
  int64_t hits = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    for (int64_t c = 1; c < classes; ++c)
      best = logits.at(i * classes + c) > logits.at(i * classes + best) ? c : best;
    hits += best == static_cast<int64_t>(y.at(i));
  }
  return static_cast<double>(hits) / static_cast<double>(n);
}

// The first n Fashion-MNIST test images shaped as the model's input wants them.
Tensor test_images(int64_t n, Shape shape) {
  shape.insert(shape.begin(), n);
  return fashion_mnist().test->slice(0, n)->x().clone().reshape(shape);
}

nlohmann::json summary_of(const std::string& out) {
  return nlohmann::json::parse(slurp(out + "/summary.json"));
}

// Per weight of the exported model: {sparsity, 2:4 valid} (tamp inspect dequantizes int8 weights).
std::map<std::string, std::pair<double, bool>> two_of_four(const std::string& model) {
  const CliResult r = run_tamp({"inspect", model, "--pattern", "2:4", "--json"});
  EXPECT_EQ(r.code, 0) << r.err;
  std::map<std::string, std::pair<double, bool>> out;
  const auto report = nlohmann::json::parse(r.out);
  for (const auto& w : report.at("weights")) {
    if (w.contains("pattern"))
      out[w.at("name")] = {w.at("sparsity").get<double>(), w.at("pattern").at("valid").get<bool>()};
  }
  return out;
}

// The layer of `weights` whose name starts with `prefix` (an int8 export renames conv1.weight
// conv1.weight_uint8).
std::pair<double, bool> layer(const std::map<std::string, std::pair<double, bool>>& weights,
                              const std::string& prefix) {
  for (const auto& [name, v] : weights) {
    if (name.rfind(prefix, 0) == 0) return v;
  }
  ADD_FAILURE() << "no weight " << prefix;
  return {};
}

TEST(RecipeNew, EveryModelAndGoalValidates) {
  TempDir dir;
  int recipes = 0;
  for (const auto& entry : fs::directory_iterator(source_dir() + "/tests/data/models")) {
    if (entry.path().extension() != ".onnx") continue;
    const std::vector<std::string> goals{"int8", "int8-qat", "2:4", "2:4+int8",
                                         "smallest-within:1%"};
    for (size_t k = 0; k < goals.size(); ++k) {
      const std::string& goal = goals[k];
      const std::string name = entry.path().stem().string(),
                        file = dir.file(name + "_" + std::to_string(k) + ".yaml");
      SCOPED_TRACE(name + " " + goal);
      const CliResult r =
          run_tamp({"recipe", "new", entry.path().string(), "--goal", goal, "--out", file});
      ASSERT_EQ(r.code, 0) << r.err;
      const CliResult v = run_tamp({"recipe", "validate", file});
      EXPECT_EQ(v.code, 0) << v.err << slurp(file);
      ++recipes;
    }
  }
  EXPECT_EQ(recipes, 13 * 5);
  // To stdout with absolute paths; into a file with paths relative to it.
  const CliResult out = run_tamp({"recipe", "new", model_file("cnn"), "--goal", "2:4"});
  ASSERT_EQ(out.code, 0) << out.err;
  EXPECT_NE(out.out.find("model: '" + model_file("cnn") + "'"), std::string::npos) << out.out;
  EXPECT_NE(out.out.find("- 'conv1\\.weight'"), std::string::npos) << out.out;
  EXPECT_NE(out.out.find("- 'fc2\\.weight'"), std::string::npos) << out.out;
  EXPECT_NE(slurp(dir.file("cnn_0.yaml"))
                .find("model: '" + fs::relative(model_file("cnn"), dir.path()).string() + "'"),
            std::string::npos);
  const CliResult again = run_tamp(
      {"recipe", "new", model_file("cnn"), "--goal", "2:4", "--out", dir.file("cnn_0.yaml")});
  EXPECT_EQ(again.code, 3) << again.err;
  EXPECT_NE(again.err.find("--overwrite"), std::string::npos) << again.err;
}

TEST(RecipeNew, BadGoalsFilesAndModelsAreRefused) {
  TempDir dir;
  const CliResult goal = run_tamp({"recipe", "new", model_file("cnn"), "--goal", "int4"});
  EXPECT_EQ(goal.code, 3) << goal.err;
  EXPECT_NE(goal.err.find("unknown goal 'int4'"), std::string::npos) << goal.err;
  EXPECT_NE(goal.err.find("smallest-within"), std::string::npos)
      << goal.err;  // the hint lists the goals
  std::ofstream(dir.file("notes.onnx")) << "these are notes, not a model\n";
  const CliResult text =
      run_tamp({"compress", dir.file("notes.onnx"), "--goal", "int8", "--out", dir.file("run")});
  EXPECT_EQ(text.code, 3) << text.err;
  EXPECT_NE(text.err.find("notes.onnx"), std::string::npos) << text.err;
  EXPECT_FALSE(fs::exists(dir.file("run")));  // refused before anything is written
  // One Gemm 784 -> 10 reads the input and gives the logits: 2:4 has nothing to prune.
  const nn::Graph one = test::lone_gemm();
  io::save_onnx_graph(one, dir.file("one.onnx"));
  const CliResult none = run_tamp({"recipe", "new", dir.file("one.onnx"), "--goal", "2:4+int8"});
  EXPECT_EQ(none.code, 3) << none.err;
  EXPECT_NE(none.err.find("nothing in the model can be pruned 2:4"), std::string::npos) << none.err;
  EXPECT_NE(none.err.find("w [10, 784] (Gemm): the first layer"), std::string::npos) << none.err;
  const CliResult h5 = run_tamp(
      {"recipe", "new", model_file("cnn"), "--goal", "int8", "--dataset", dir.file("one.onnx")});
  EXPECT_EQ(h5.code, 2) << h5.err;
}

// The one-command path on the CNN: the recipe beside the run, 2:4 where it prunes, conv1 and
// fc2 dense, ONNX Runtime's top-1 on the exported file equal to what tamp reported.
TEST(Compress, CnnTwoOfFourInt8) {
  TempDir dir;
  const std::string out = dir.file("run");
  const std::vector<std::string> args{
      "compress", model_file("cnn"), "--goal", "2:4+int8", "--steps", "10",     "--limit",
      "640",      "--eval-limit",    "200",    "--out",    out,       "--quiet"};
  const CliResult r = run_tamp(args);
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  EXPECT_TRUE(fs::exists(out + "/recipe.yaml"));
  const auto s = summary_of(out);
  EXPECT_EQ(s.at("recipe"), out + "/recipe.yaml");
  const std::string model = s.at("export").at("path");
  EXPECT_EQ(fs::path(model).filename(), "cnn_2of4_int8.onnx");
  EXPECT_EQ(s.at("export").at("eval").at("examples"), 200);
  EXPECT_NEAR(ort_top1(model, test_images(200, {1, 28, 28}), fashion_mnist().test->y()),
              s.at("export").at("eval").at("top1").get<double>(), 0.0051);  // one argmax tie
  const auto w = two_of_four(model);
  for (const char* pruned : {"conv2.weight", "fc1.weight"}) {
    EXPECT_TRUE(layer(w, pruned).second) << pruned;
    EXPECT_NEAR(layer(w, pruned).first, 0.5, 0.01) << pruned;
  }
  for (const char* dense : {"conv1.weight", "fc2.weight"})
    EXPECT_LT(layer(w, dense).first, 0.1) << dense;
  // The folder holds a run: refused, then replaced with --overwrite.
  const CliResult again = run_tamp(args);
  EXPECT_EQ(again.code, 3) << again.err;
  EXPECT_NE(again.err.find("holds another run"), std::string::npos) << again.err;
}

// Generated recipes run unchanged by `tamp run`: the MLP (2:4, float; int8 calibration) and
// the CNN (QAT), each export checked in ONNX Runtime.
TEST(RecipeNew, GeneratedRecipesRunOnTheMlpAndCnn) {
  TempDir dir;
  struct Case {
    std::string model, goal;
    Shape input;
  };
  for (const Case& c : std::vector<Case>{
           {"mlp", "2:4", {784}}, {"mlp", "int8", {784}}, {"cnn", "int8-qat", {1, 28, 28}}}) {
    SCOPED_TRACE(c.model + " " + c.goal);
    const std::string recipe = dir.file(c.model + c.goal + ".yaml"),
                      out = dir.file(c.model + c.goal);
    const CliResult n = run_tamp({"recipe", "new", model_file(c.model), "--goal", c.goal, "--steps",
                                  "10", "--limit", "640", "--eval-limit", "200", "--out", recipe});
    ASSERT_EQ(n.code, 0) << n.err;
    const CliResult r = run_tamp({"run", recipe, "--out", out, "--quiet"});
    ASSERT_EQ(r.code, 0) << r.err << slurp(recipe);
    const auto s = summary_of(out);
    const std::string model = s.at("export").at("path");
    EXPECT_EQ(s.at("export").at("format"), c.goal == "2:4" ? "float" : "qdq");
    EXPECT_NEAR(ort_top1(model, test_images(200, c.input), fashion_mnist().test->y()),
                s.at("export").at("eval").at("top1").get<double>(), 0.0051);
    if (c.goal == "2:4") {
      const auto w = two_of_four(model);
      EXPECT_TRUE(layer(w, "fc2.weight").second);
      EXPECT_NEAR(layer(w, "fc2.weight").first, 0.5, 0.01);
      EXPECT_EQ(layer(w, "fc1.weight").first, 0);  // the first layer and the classifier stay dense
      EXPECT_EQ(layer(w, "fc3.weight").first, 0);
    }
  }
}

// Fashion-MNIST images as 64 tokens of 16 values (784 pixels, then zeros) for the transformer.
void write_token_images(const std::string& path, int64_t begin, int64_t n, bool test) {
  const auto& split = test ? fashion_mnist().test : fashion_mnist().train;
  const Tensor images = split->slice(begin, begin + n)->x();
  std::vector<float> x(static_cast<size_t>(n * 64 * 16), 0.0f);
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t p = 0; p < 784; ++p)
      x[static_cast<size_t>(i * 1024 + p)] = images.data<float>()[i * 784 + p];
    y[static_cast<size_t>(i)] = static_cast<int64_t>(split->y().at(begin + i));
  }
  H5::H5File f(path, H5F_ACC_TRUNC);
  const hsize_t xdims[3] = {static_cast<hsize_t>(n), 64, 16}, ydims[1] = {static_cast<hsize_t>(n)};
  H5::DataSpace xs(3, xdims), ys(1, ydims);
  f.createDataSet("x", H5::PredType::NATIVE_FLOAT, xs).write(x.data(), H5::PredType::NATIVE_FLOAT);
  f.createDataSet("y", H5::PredType::NATIVE_INT64, ys).write(y.data(), H5::PredType::NATIVE_INT64);
}

TEST(Compress, TransformerOnTokenisedImages) {
  TempDir dir;
  write_token_images(dir.file("train.h5"), 0, 640, false);
  write_token_images(dir.file("test.h5"), 0, 200, true);
  const std::string out = dir.file("run");
  // 2:4 with a float export: after ten steps the untrained transformer's logits are near ties,
  // and an int8 export fails the export parity check on one argmax tie of 200 (exit 4).
  const CliResult r = run_tamp({"compress", model_file("transformer"), "--goal", "2:4", "--dataset",
                                dir.file("train.h5"), "--eval-dataset", dir.file("test.h5"),
                                "--steps", "10", "--batch", "32", "--out", out, "--quiet"});
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  EXPECT_NE(slurp(out + "/recipe.yaml").find("kind: adamw"), std::string::npos);
  const auto s = summary_of(out);
  const std::string model = s.at("export").at("path");
  Tensor x = Tensor::empty({200, 64, 16}), y = Tensor::empty({200}, DType::kInt64);
  {
    H5::H5File f(dir.file("test.h5"), H5F_ACC_RDONLY);
    f.openDataSet("x").read(x.data<float>(), H5::PredType::NATIVE_FLOAT);
    f.openDataSet("y").read(y.data<int64_t>(), H5::PredType::NATIVE_INT64);
  }
  EXPECT_NEAR(ort_top1(model, x, y), s.at("export").at("eval").at("top1").get<double>(), 0.0051);
  // Every MatMul weight 2:4 but the input projection and the classifier.
  const auto w = two_of_four(model);
  ASSERT_EQ(w.size(), 14u);
  for (const auto& [name, v] : w) {
    const bool dense = name == "embed.weight" || name == "head.weight";
    EXPECT_EQ(v.second, !dense) << name;
    EXPECT_NEAR(v.first, dense ? 0.0 : 0.5, 1e-9) << name;
  }
}

// smallest-within on the trained CNN: accuracy-aware tuning through `tamp compress` (and so
// `tamp run`); ONNX Runtime finds the exported model within 1 % of the float model's top-1.
TEST(Compress, SmallestWithinOnePercentOfTheTrainedCnn) {
  TempDir dir;
  const std::string out = dir.file("run");
  const CliResult r =
      run_tamp({"compress", model_file("cnn_fmnist"), "--goal", "smallest-within:1%", "--limit",
                "2000", "--eval-limit", "500", "--out", out});
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  const std::string model = out + "/cnn_fmnist_smallest_within_1pct.onnx";
  ASSERT_TRUE(fs::exists(model)) << r.out;
  EXPECT_TRUE(fs::exists(out + "/tuning.jsonl"));
  const Tensor x = test_images(500, {1, 28, 28});
  const double fp32 = ort_top1(model_file("cnn_fmnist"), x, fashion_mnist().test->y());
  EXPECT_GE(ort_top1(model, x, fashion_mnist().test->y()), 0.99 * fp32 - 0.0021);  // one argmax tie
  EXPECT_LT(fs::file_size(model), fs::file_size(model_file("cnn_fmnist")) / 3);    // int8 at least
}

}  // namespace
}  // namespace tamp::test
