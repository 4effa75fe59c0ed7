// Recipes written for a model (scheduler/recipe_generator.h): for every test model and every
// goal the text parses strictly, and the survey's exclusions are the layers a person would
// leave dense — the first conv and the classifier of the CNN, the depthwise convs of
// MobileNetV2, the embeddings of the BERT encoder — each named with its reason.
#include "support/lone_gemm.h"
#include "support/ort_runner.h"  // source_dir()

#include <tamp/io/onnx_import.h>
#include <tamp/scheduler/model_survey.h>
#include <tamp/scheduler/recipe_generator.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <regex>

namespace tamp::test {
namespace {

namespace fs = std::filesystem;

nn::Graph model(const std::string& name) {
  return io::load_onnx_graph(source_dir() + "/tests/data/models/" + name + ".onnx");
}

// The recipe's comments joined into lines, so that a sentence wrapped over two lines is found.
std::string unwrapped(const std::string& text) {
  return std::regex_replace(text, std::regex("\n *# "), " ");
}

std::string recipe(const nn::Graph& g, const std::string& goal, const std::string& name = "m") {
  RecipeRequest q;
  q.goal = goal;
  q.model = source_dir() + "/tests/data/models/" + name + ".onnx";
  q.data.limit = 640;
  q.steps_per_epoch = 10;
  return generate_recipe(g, q);
}

// The weights the recipe's pruning leaves out (its exclude regexes, matched as pruning does).
std::vector<std::string> excluded(const nn::Graph& g, const Recipe& r) {
  std::vector<std::string> out;
  for (const auto& s : r.stages) {
    if (!s.pruning) continue;
    for (const SurveyLayer& l : survey_model(g).layers) {
      for (const auto& re : s.pruning->exclude) {
        if (std::regex_match(l.weight, std::regex(re))) out.push_back(l.weight);
      }
    }
  }
  return out;
}

std::vector<std::string> goals() {
  std::vector<std::string> out;
  for (const auto& g : recipe_goals()) out.push_back(g.name);
  return out;
}

TEST(RecipeGenerator, EveryModelAndGoalParsesWithTheGoalsStages) {
  int models = 0;
  for (const auto& entry : fs::directory_iterator(source_dir() + "/tests/data/models")) {
    if (entry.path().extension() != ".onnx") continue;
    const std::string name = entry.path().stem().string();
    SCOPED_TRACE(name);
    ++models;
    const nn::Graph g = io::load_onnx_graph(entry.path().string());
    for (const std::string& goal : goals()) {
      SCOPED_TRACE(goal);
      const std::string text = recipe(g, goal, name);
      Recipe r;
      ASSERT_NO_THROW(r = parse_recipe(text, ".", name)) << text;
      EXPECT_NE(text.find("goal '" + goal + "'"), std::string::npos);
      EXPECT_EQ(r.model, source_dir() + "/tests/data/models/" + name + ".onnx");
      if (goal == "smallest-within:1%") {
        ASSERT_TRUE(r.tuning.has_value());
        EXPECT_EQ(r.tuning->criterion, "relative:0.01");
        EXPECT_TRUE(r.tuning->keep_improving);
        EXPECT_EQ(r.tuning->objective, "size");
        continue;
      }
      std::string stages;
      for (const auto& s : r.stages) {
        for (const auto& k : component_keys(s)) stages += (stages.empty() ? "" : ",") + k;
      }
      const std::map<std::string, std::string> want{
          {"int8", "ptq"}, {"int8-qat", "qat"}, {"2:4", "pruning"}, {"2:4+int8", "pruning,ptq"}};
      EXPECT_EQ(stages, want.at(goal));
      EXPECT_EQ(r.export_.format, goal == "2:4" ? "float" : "qdq");
      for (const auto& s : r.stages) {
        EXPECT_TRUE(!s.pruning || s.pruning->pattern == "2:4");
        EXPECT_TRUE(!s.qat || s.qat->exclude.empty());
        EXPECT_TRUE(!s.ptq || s.ptq->exclude.empty());
      }
      // Every weight 2:4 cannot tile is excluded by name, with its reason.
      if (r.stages[0].pruning) {
        const auto out = excluded(g, r);
        for (const SurveyLayer& l : survey_model(g).layers) {
          if (const std::string why = nm_problem(l, "2:4"); !why.empty()) {
            EXPECT_TRUE(std::count(out.begin(), out.end(), l.weight)) << l.weight;
            EXPECT_NE(
                unwrapped(text).find(l.depthwise ? "depthwise: one input channel per group" : why),
                std::string::npos)
                << l.weight;
          }
        }
        EXPECT_LT(out.size(), survey_model(g).layers.size());
      }
    }
  }
  EXPECT_EQ(models, 13);
}

TEST(RecipeGenerator, CnnLeavesItsFirstConvAndClassifierDense) {
  const nn::Graph g = model("cnn");
  const ModelSurvey s = survey_model(g);
  ASSERT_EQ(s.layers.size(), 4u);
  EXPECT_TRUE(s.layers[0].first);  // conv1 reads the input
  EXPECT_FALSE(s.layers[1].first || s.layers[1].classifier);
  EXPECT_TRUE(s.layers[3].classifier);  // fc2 gives the logits
  const std::string text = recipe(g, "2:4+int8");
  const Recipe r = parse_recipe(text);
  EXPECT_EQ(excluded(g, r), (std::vector<std::string>{"conv1.weight", "fc2.weight"}));
  EXPECT_NE(unwrapped(text).find("conv1.weight [32, 1, 3, 3] (Conv): the first layer"),
            std::string::npos)
      << text;
  EXPECT_NE(unwrapped(text).find("fc2.weight [10, 128] (Gemm): the classifier"), std::string::npos)
      << text;
  // 10 steps: masks every step, the ramp over the first half, a log line every step.
  EXPECT_EQ(r.stages[0].pruning->schedule.frequency, 1);
  EXPECT_DOUBLE_EQ(r.stages[0].pruning->schedule.end_epoch, 0.5);
  EXPECT_EQ(r.training.log_every, 1);
  EXPECT_EQ(r.data.limit, 640);
  EXPECT_EQ(r.data.normalize, "");  // a user's model is fed as it was trained
}

TEST(RecipeGenerator, MlpAndTransformerExcludeTheirInputAndOutputLayers) {
  for (const char* name : {"mlp", "transformer"}) {
    SCOPED_TRACE(name);
    const nn::Graph g = model(name);
    const ModelSurvey s = survey_model(g);
    std::vector<std::string> edges;
    for (const auto& l : s.layers) {
      if (l.first || l.classifier) edges.push_back(l.weight);
    }
    ASSERT_EQ(edges.size(), 2u);
    EXPECT_EQ(edges[0], s.layers.front().weight);
    EXPECT_EQ(edges[1], s.layers.back().weight);
    EXPECT_EQ(excluded(g, parse_recipe(recipe(g, "2:4"))), edges);
  }
  // The transformer fine-tunes with AdamW; its attention MatMuls are counted.
  const nn::Graph t = model("transformer");
  const Recipe r = parse_recipe(recipe(t, "int8-qat"));
  EXPECT_TRUE(std::holds_alternative<AdamW>(r.training.optimizer));
  EXPECT_EQ(survey_model(t).attention_matmuls.size(), 4u);  // Q K^T and P V of two layers
}

TEST(RecipeGenerator, BertKeepsItsEmbeddingsAndMobileNetItsDepthwiseConvs) {
  const nn::Graph bert = model("bert_encoder");
  const ModelSurvey b = survey_model(bert);
  ASSERT_GE(b.embeddings.size(), 1u);
  const std::string text = recipe(bert, "2:4+int8");
  EXPECT_EQ(b.embeddings, (std::vector<std::string>{"tokens.weight", "positions"}));
  EXPECT_EQ(b.attention_matmuls.size(),
            8u);  // Q K^T and P V of four layers (shared weights are no activations)
  EXPECT_NE(unwrapped(text).find("embedding and position tables tokens.weight, positions"),
            std::string::npos)
      << text;
  EXPECT_NE(
      unwrapped(text).find("The embedding and position tables are looked up (Gather) or added"),
      std::string::npos)
      << text;
  const auto out = excluded(bert, parse_recipe(text));
  EXPECT_EQ(
      out, std::vector<std::string>{b.layers.back().weight});  // the classifier; the rest tiles 2:4

  const nn::Graph m = model("mobilenet_v2");
  const ModelSurvey s = survey_model(m);
  const auto dense = excluded(m, parse_recipe(recipe(m, "2:4")));
  int depthwise = 0;
  for (const auto& l : s.layers) {
    if (!l.depthwise) continue;
    ++depthwise;
    EXPECT_TRUE(std::count(dense.begin(), dense.end(), l.weight)) << l.weight;
  }
  EXPECT_GE(depthwise, 10);
  EXPECT_TRUE(std::count(dense.begin(), dense.end(),
                         s.layers.front().weight));  // the stem, 3 input channels
}

// Fashion-MNIST (the default data) feeds 1x28x28 or 784-value inputs: a recipe for a model
// that takes anything else says so where the data is named, and one for the CNN does not.
TEST(RecipeGenerator, ARecipeSaysWhenFashionMnistCannotFeedTheModel) {
  const std::string note = "does not take Fashion-MNIST's";
  for (const char* name : {"mobilenet_v2", "resnet18", "bert_encoder"}) {
    EXPECT_NE(unwrapped(recipe(model(name), "int8")).find(note), std::string::npos) << name;
  }
  for (const char* name : {"cnn", "mlp"}) {
    EXPECT_EQ(unwrapped(recipe(model(name), "int8")).find(note), std::string::npos) << name;
  }
}

TEST(RecipeGenerator, BadGoalsAndUnprunableModelsAreRefused) {
  const nn::Graph g = model("cnn");
  for (const char* goal : {"int4", "smallest", "smallest-within:0%", "smallest-within:1",
                           "smallest-within:x%", "smallest-within:100%"}) {
    try {
      recipe(g, goal);
      ADD_FAILURE() << goal;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput) << goal;
      EXPECT_NE(e.message().find(goal), std::string::npos) << e.what();
    }
  }
  EXPECT_NO_THROW(recipe(g, "smallest-within:0.5%"));
  // One Gemm 784 -> 10: the first layer and the classifier at once; 2:4 has nothing left.
  const nn::Graph one = test::lone_gemm();
  try {
    recipe(one, "2:4");
    ADD_FAILURE() << "2:4 of a lone classifier";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("nothing in the model can be pruned 2:4"), std::string::npos)
        << e.what();
    EXPECT_NE(e.message().find("w [10, 784] (Gemm): the first layer"), std::string::npos)
        << e.what();
  }
  EXPECT_NO_THROW(parse_recipe(recipe(one, "int8-qat")));
}

}  // namespace
}  // namespace tamp::test
