// The JSON endpoints of `tamp ui` without HTTP: the catalog, recipes for each goal, the checks
// on a recipe's files before a run starts, and a real short run through `tamp run` (the built
// binary) from start to the per-layer table of its exported model.
#include "ui/api.h"
#include "ui/recipe_source.h"

#include "support/temp_dir.h"

#include <tamp/io/onnx_import.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

namespace tamp::cli::ui {
namespace {

namespace fs = std::filesystem;

const fs::path kSource = std::getenv("TAMP_SOURCE_DIR") ? std::getenv("TAMP_SOURCE_DIR") : ".";
constexpr const char* kFashionMnistParent = "/usr/share/datasets";

class UiApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* d : {"models/sub", "data/fm", "data/h5", "runs", "outside"})
      fs::create_directories(tmp_.path() / d);
    fs::copy_file(kSource / "tests/data/models/cnn.onnx", tmp_.path() / "models/cnn.onnx");
    fs::copy_file(kSource / "tests/data/models/mlp.onnx", tmp_.path() / "models/sub/mlp.onnx");
    fs::copy_file(kSource / "tests/data/models/cnn.onnx", tmp_.path() / "outside/secret.onnx");
    fs::create_symlink(tmp_.path() / "outside/secret.onnx", tmp_.path() / "models/escape.onnx");
    for (const char* f : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                          "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}) {
      std::ofstream(tmp_.path() / "data/fm" / f) << "";
    }
    for (const char* f : {"h5/train.h5", "h5/test.h5", "notes.txt"})
      std::ofstream(tmp_.path() / "data" / f) << "";
    std::ofstream(tmp_.path() / "outside/x.h5") << "";
  }

  UiApi make_api(const std::string& data = "", const std::string& latency_command = "") const {
    return UiApi({PathJail((tmp_.path() / "models").string(), "--models"),
                  PathJail(data.empty() ? (tmp_.path() / "data").string() : data, "--data"),
                  PathJail((tmp_.path() / "runs").string(), "--runs")},
                 TAMP_CLI_BINARY, latency_command);
  }

  // A generated recipe with one line replaced (`key:` at the start of a line) by `line`.
  static std::string with_line(const std::string& recipe, const std::string& key,
                               const std::string& line) {
    const size_t at = recipe.find("\n" + key + ":");
    EXPECT_NE(at, std::string::npos) << key;
    const size_t end = recipe.find('\n', at + 1);
    return recipe.substr(0, at + 1) + line + recipe.substr(end);
  }

  test::TempDir tmp_;
};

TEST_F(UiApiTest, CatalogListsModelsAndDatasetsInsideTheFolders) {
  const nlohmann::json c = make_api().catalog();
  EXPECT_EQ(c["models"],
            nlohmann::json({"cnn.onnx", "sub/mlp.onnx"}));  // not escape.onnx: its link leads out
  EXPECT_EQ(c["datasets"], nlohmann::json({{{"id", "fm"}, {"kind", "fashion-mnist"}},
                                           {{"id", "h5/test.h5"}, {"kind", "hdf5"}},
                                           {{"id", "h5/train.h5"}, {"kind", "hdf5"}}}));
  std::vector<std::string> goals;
  for (const auto& g : c["goals"]) goals.push_back(g["name"]);
  EXPECT_EQ(goals, (std::vector<std::string>{"int8", "int8-qat", "2:4", "2:4+int8"}));
  EXPECT_FALSE(c["latency"].get<bool>());
}

// Every goal's recipe parses strictly and has the stages and export the goal names.
TEST_F(UiApiTest, RecipeOfEveryGoalIsValidAndNamesTheChoices) {
  const UiApi api = make_api();
  struct Expect {
    std::string goal;
    std::vector<std::string> components;  // per stage: pruning pattern, "qat" or "ptq"
    std::string format;
  };
  for (const Expect& e : std::vector<Expect>{{"int8", {"ptq"}, "qdq"},
                                             {"int8-qat", {"qat"}, "qdq"},
                                             {"2:4", {"2:4"}, "float"},
                                             {"2:4+int8", {"2:4", "ptq"}, "qdq"}}) {
    SCOPED_TRACE(e.goal);
    const std::string text = api.new_recipe({{"model", "sub/mlp.onnx"},
                                             {"dataset", "fm"},
                                             {"goal", e.goal},
                                             {"epochs", 2},
                                             {"steps_per_epoch", 40},
                                             {"limit", 3000},
                                             {"eval_limit", 100}})["recipe"];
    const Recipe r = parse_recipe(text, tmp_.path().string());
    EXPECT_EQ(r.model, fs::canonical(tmp_.path() / "models/sub/mlp.onnx").string());
    EXPECT_EQ(r.data.dataset, "fashion-mnist");
    EXPECT_EQ(r.data.dir, fs::canonical(tmp_.path() / "data/fm").string());
    EXPECT_EQ(r.data.limit, 3000);
    EXPECT_EQ(r.data.eval_limit, 100);
    if (e.goal != "int8") {  // int8 only calibrates
      EXPECT_EQ(r.training.epochs, 2);
      EXPECT_EQ(r.training.steps_per_epoch, 40);
      EXPECT_EQ(r.training.log_every, 4);  // 80 steps / 20: a point every few steps
    }
    EXPECT_EQ(r.export_.format, e.format);
    ASSERT_EQ(r.stages.size(), e.components.size());
    for (size_t i = 0; i < r.stages.size(); ++i) {
      const RecipeStage& s = r.stages[i];
      const std::string what = s.pruning ? s.pruning->pattern
                               : s.qat   ? "qat"
                               : s.ptq   ? "ptq"
                                         : "none";
      EXPECT_EQ(what, e.components[i]);
      EXPECT_FALSE(s.pruning && (s.qat || s.ptq)) << "one component per stage";
      if (s.pruning) EXPECT_EQ(s.pruning->schedule.frequency, 8);
    }
  }
}

TEST_F(UiApiTest, RecipeForAnHdf5SetNeedsItsEvaluationSet) {
  const UiApi api = make_api();
  EXPECT_THROW(
      api.new_recipe({{"model", "cnn.onnx"}, {"dataset", "h5/train.h5"}, {"goal", "int8"}}), Error);
  const std::string text = api.new_recipe({{"model", "cnn.onnx"},
                                           {"dataset", "h5/train.h5"},
                                           {"eval_dataset", "h5/test.h5"},
                                           {"goal", "int8"}})["recipe"];
  const Recipe r = parse_recipe(text, tmp_.path().string());
  EXPECT_EQ(r.data.dataset, "hdf5:" + fs::canonical(tmp_.path() / "data/h5/train.h5").string());
  EXPECT_EQ(r.data.eval_dataset, "hdf5:" + fs::canonical(tmp_.path() / "data/h5/test.h5").string());
}

TEST_F(UiApiTest, RecipeRequestsOutsideTheFoldersAreRefused) {
  const UiApi api = make_api();
  const nlohmann::json ok{{"model", "cnn.onnx"}, {"dataset", "fm"}, {"goal", "int8"}};
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"model", "../outside/secret.onnx"},
           {"model", "escape.onnx"},
           {"model", (tmp_.path() / "outside/secret.onnx").string()},
           {"dataset", "../outside/x.h5"}}) {
    nlohmann::json q = ok;
    q[key] = value;
    EXPECT_THROW(api.new_recipe(q), OutsideFolder) << key << " " << value;
  }
  nlohmann::json q = ok;
  q["goal"] = "smallest";
  EXPECT_THROW(api.new_recipe(q), Error);
  q = ok;
  q["dataset"] = "notes.txt";
  EXPECT_THROW(api.new_recipe(q), Error);
  q = ok;
  q.erase("model");
  EXPECT_THROW(api.new_recipe(q), Error);
}

// A page may edit the recipe: every file it names is checked again, and a refused run leaves
// no folder behind.
TEST_F(UiApiTest, StartRefusesRecipesNamingFilesOutsideTheFolders) {
  UiApi api = make_api();
  const std::string good =
      api.new_recipe({{"model", "cnn.onnx"}, {"dataset", "fm"}, {"goal", "2:4+int8"}})["recipe"];
  const std::string outside = tmp_.path().string() + "/outside";
  const std::vector<std::string> bad{
      with_line(good, "model", "model: " + outside + "/secret.onnx"),
      with_line(good, "model", "model: ../../models/escape.onnx"),
      with_line(good, "data", "data: {dataset: fashion-mnist, dir: " + outside + "}"),
      with_line(good, "data",
                "data: {dataset: fashion-mnist}"),  // the default folder is not in --data
      with_line(good, "data",
                "data: {dataset: \"hdf5:" + outside + "/x.h5\", eval_dataset: \"hdf5:" +
                    tmp_.path().string() + "/data/h5/test.h5\"}"),
      with_line(good, "data",
                "data: {dataset: \"hdf5:../../data/h5/train.h5\", eval_dataset: "
                "\"hdf5:../../outside/x.h5\"}"),
      with_line(good, "export", "export: {format: qdq, path: ui_run.json}"),
      good + "\n",  // placeholder replaced below: a teacher outside
  };
  std::vector<std::string> cases = bad;
  cases.back() = with_line(good, "stages",
                           "stages:\n  - name: kd\n    distillation: {teacher: " + outside +
                               "/secret.onnx, temperature: 2}");
  for (const std::string& text : cases) {
    EXPECT_THROW(api.start_run({{"recipe", text}, {"name", "bad"}}), OutsideFolder) << text;
  }
  // The recipe parser itself keeps the export in the output folder.
  for (const std::string& path : {std::string("../stolen.onnx"), outside + "/model.onnx"}) {
    EXPECT_THROW(
        api.start_run(
            {{"recipe", with_line(good, "export", "export: {format: qdq, path: " + path + "}")}}),
        Error);
  }
  EXPECT_THROW(api.start_run({{"recipe", "model: cnn.onnx\nbogus: 1\n"}}), Error);
  const std::string tuning =
      "model: " + (tmp_.path() / "models/cnn.onnx").string() +
      "\ndata: {dataset: fashion-mnist, dir: " + (tmp_.path() / "data/fm").string() +
      "}\ntuning: {strategy: basic, criterion: {relative: 0.01}}\n";
  EXPECT_THROW(api.start_run({{"recipe", tuning}}), Error);
  EXPECT_TRUE(fs::is_empty(tmp_.path() / "runs"));
  EXPECT_TRUE(api.runs().empty());
}

TEST_F(UiApiTest, RunNamesAreCheckedBeforeAnyFileIsRead) {
  const UiApi api = make_api();
  for (const char* id : {"..", "../outside", "a/b", ".hidden", ""}) {
    EXPECT_THROW(api.run(id), OutsideFolder) << id;
  }
  EXPECT_THROW(api.run("nothing-here"), NotFound);
  EXPECT_THROW(api.metrics("nothing-here", 0), NotFound);
}

// metrics.jsonl read in pieces: only whole lines, the offset after them, and a file cut back
// (a resumed run) starts over.
TEST_F(UiApiTest, MetricsAreReadInWholeLinesFromAnOffset) {
  const fs::path dir = tmp_.path() / "runs/old";
  fs::create_directories(dir);
  write_json_file(dir / "ui_run.json", {{"id", "old"}, {"started", 1.0}, {"pid", 0}});
  const std::string l1 = R"({"type":"train","stage":0,"step":1,"loss":2.5})"
                         "\n";
  const std::string l2 = R"({"type":"train","stage":0,"step":2,"loss":2.0})"
                         "\n";
  std::ofstream(dir / "metrics.jsonl") << l1 << l2 << R"({"type":"tra)";
  const UiApi api = make_api();
  nlohmann::json m = api.metrics("old", 0);
  ASSERT_EQ(m["lines"].size(), 2u);
  EXPECT_EQ(m["lines"][1]["loss"], 2.0);
  EXPECT_EQ(m["next"], l1.size() + l2.size());
  m = api.metrics("old", l1.size());
  ASSERT_EQ(m["lines"].size(), 1u);
  EXPECT_EQ(m["lines"][0]["step"], 2);
  EXPECT_EQ(api.metrics("old", l1.size() + l2.size())["lines"].size(), 0u);
  EXPECT_EQ(api.metrics("old", 100000)["lines"].size(), 2u);
  // No process, no summary, no exit record: the server that started it is gone.
  EXPECT_EQ(api.run("old")["status"], "interrupted");
  write_json_file(dir / "exit.json", {{"code", 3}, {"signal", 0}});
  EXPECT_EQ(api.run("old")["status"], "failed");
  EXPECT_THROW(api.layers("old"), NotFound);
}

// A real `tamp run` started through the API: it finishes on its own, and its metrics, summary,
// per-layer table and exported model are what the page shows.
TEST_F(UiApiTest, ShortRunFinishesAndReportsItsModel) {
  if (!fs::exists(fs::path(kFashionMnistParent) / "fashion-mnist"))
    GTEST_SKIP() << "no Fashion-MNIST (dataset-fashion-mnist)";
  UiApi api = make_api(kFashionMnistParent);
  const std::string text = api.new_recipe({{"model", "cnn.onnx"},
                                           {"dataset", "fashion-mnist"},
                                           {"goal", "2:4+int8"},
                                           {"steps_per_epoch", 10},
                                           {"limit", 640},
                                           {"eval_limit", 200}})["recipe"];
  const std::string id =
      api.start_run({{"recipe", text}, {"name", "cnn 2:4+int8"}, {"goal", "2:4+int8"}})["id"];
  EXPECT_EQ(id, "cnn_2_4_int8");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  nlohmann::json run;
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    run = api.run(id);
  } while (run["status"] == "running" && std::chrono::steady_clock::now() < deadline);
  ASSERT_EQ(run["status"], "finished") << run["log"].get<std::string>();
  EXPECT_EQ(run["meta"]["model"], "cnn.onnx");
  EXPECT_EQ(run["meta"]["dataset"], "fashion-mnist (fashion-mnist)");
  EXPECT_EQ(run["meta"]["goal"], "2:4+int8");
  EXPECT_EQ(run["exit"]["code"], 0);
  EXPECT_EQ(run["recipe"], text);
  EXPECT_EQ(run["summary"]["export"]["eval"]["examples"], 200);

  const nlohmann::json m = api.metrics(id, 0);
  int train_lines = 0;
  double last_sparsity = -1;
  for (const auto& l : m["lines"]) {
    if (l["type"] != "train" || l["stage"] != 0) continue;
    ++train_lines;
    EXPECT_EQ(l["total_steps"], 10);
    last_sparsity = l["sparsity"];
  }
  EXPECT_EQ(train_lines, 10);  // log_every 1 for 10 steps
  EXPECT_NEAR(last_sparsity, 0.4965,
              0.001);  // half of all but conv1's 288 and fc2's 1,280 of 224,800 weights

  // The exported model: every Conv/Gemm weight 2:4 and stored in 8 bits (uint8: the portable
  // target); the original dense, float.
  const nlohmann::json layers = api.layers(id);
  ASSERT_EQ(layers["exported"].size(), 4u);
  for (const auto& w :
       layers["exported"]) {  // the recipe leaves the first layer and the classifier dense
    EXPECT_EQ(w["bits"], 8) << w;
    const bool dense = w["name"] == "conv1.weight_uint8" || w["name"] == "fc2.weight_uint8";
    if (dense)
      EXPECT_LT(w["sparsity"].get<double>(), 0.05) << w;  // a few weights round to 0
    else
      EXPECT_EQ(w["sparsity"].get<double>(), 0.5) << w;
  }
  ASSERT_EQ(layers["original"].size(), 4u);
  for (const auto& w : layers["original"]) EXPECT_EQ(w["bits"], 32) << w;
  const fs::path model = api.exported_model(id);
  EXPECT_EQ(model, fs::canonical(tmp_.path() / "runs" / id / "model.onnx"));
  EXPECT_NO_THROW(io::load_onnx_graph(model.string()));
  EXPECT_THROW(api.resume(id), Error);  // finished: nothing to resume
  EXPECT_THROW(api.stop(id), Error);
  EXPECT_THROW(api.measure_latency(id), Error);  // no --latency-command

  // A latency command sees both models and a non-empty input file; its last number is the result.
  UiApi timed =
      make_api(kFashionMnistParent, "test -s {model} && test -s {input} && echo took 2.5 ms");
  EXPECT_EQ(timed.measure_latency(id)["status"], "measuring");
  nlohmann::json latency;
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    latency = timed.run(id)["latency"];
  } while (latency["status"] == "measuring" && std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(latency["status"], "done") << latency;
  EXPECT_EQ(latency["exported_ms"], 2.5);
  EXPECT_EQ(latency["original_ms"], 2.5);
  UiApi failing = make_api(kFashionMnistParent, "echo no number here");
  failing.measure_latency(id);
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    latency = failing.run(id)["latency"];
  } while (latency["status"] == "measuring" && std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(latency["status"], "failed");
  EXPECT_NE(latency["error"].get<std::string>().find("printed no number"), std::string::npos)
      << latency;
}

}  // namespace
}  // namespace tamp::cli::ui
