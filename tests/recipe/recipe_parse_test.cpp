// Recipe parsing (no model is loaded, nothing runs): a table of bad recipes, each with the
// path its error must name; anchors, aliases and merge keys; every example recipe parses.
// Also built in the sanitized configuration (tests/CMakeLists.txt), since the parser reads
// files users hand it.
#include "support/ort_runner.h"  // source_dir()

#include <tamp/compression/quantization/lowering/lower.h>
#include <tamp/scheduler/recipe.h>

#include <gtest/gtest.h>

#include <filesystem>

namespace tamp::test {
namespace {

constexpr const char* kBase = R"(
model: m.onnx
stages:
  - name: a
    pruning: {pattern: "2:4"}
  - name: b
    qat: {}
)";

std::string error_of(const std::string& text) {
  try {
    parse_recipe(text, "/models", "r.yaml");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
    return e.what();
  }
  return "";
}

struct BadRecipe {
  const char* what;
  std::string text;
  const char* path;    // the error starts with this path
  const char* detail;  // and says this
};

TEST(Recipe, BadRecipesNameThePathOfTheProblem) {
  const std::string base = kBase;
  const std::vector<BadRecipe> table{
      {"unknown top-level key", base + "epochs: 3\n", "epochs: unknown key", ""},
      {"missing model", "stages: [{name: a}]\n", "model: missing", ""},
      {"missing stages", "model: m.onnx\n", "stages: missing", ""},
      {"empty stages", "model: m.onnx\nstages: []\n", "stages: expected a non-empty list", ""},
      {"unknown stage key", "model: m.onnx\nstages:\n  - {name: a, prunning: {}}\n",
       "stages[0].prunning: unknown key", ""},
      {"bad pattern", "model: m.onnx\nstages:\n  - {qat: {}}\n  - pruning: {pattern: \"5:4\"}\n",
       "stages[1].pruning.pattern:", ""},
      {"pattern of wrong type",
       "model: m.onnx\nstages:\n  - {qat: {}}\n  - pruning: {pattern: [2, 4]}\n",
       "stages[1].pruning.pattern: expected a string", ""},
      {"missing pattern", "model: m.onnx\nstages:\n  - pruning: {sparsity: 0.5}\n  - {qat: {}}\n",
       "stages[0].pruning.pattern: missing", ""},
      {"sparsity out of range",
       "model: m.onnx\nstages:\n  - pruning: {pattern: unstructured, sparsity: 1.5}\n  - {qat: "
       "{}}\n",
       "stages[0].pruning.sparsity: 1.5 is outside", ""},
      {"sparsity not a number",
       "model: m.onnx\nstages:\n  - pruning: {pattern: unstructured, sparsity: half}\n  - {qat: "
       "{}}\n",
       "stages[0].pruning.sparsity: expected a number", "half"},
      {"unknown criterion",
       "model: m.onnx\nstages:\n  - pruning: {pattern: \"2:4\", criterion: biggest}\n  - {qat: "
       "{}}\n",
       "stages[0].pruning.criterion: 'biggest' is not one of", "magnitude"},
      {"schedule curve",
       "model: m.onnx\nstages:\n  - pruning: {pattern: \"2:4\", schedule: {curve: quadratic}}\n  - "
       "{qat: {}}\n",
       "stages[0].pruning.schedule.curve:", "cubic"},
      {"epochs not an integer", base + "training: {epochs: 1.5}\n",
       "training.epochs: expected an integer", ""},
      {"negative batch", base + "training: {batch_size: -4}\n",
       "training.batch_size: -4 is outside", ""},
      {"optimizer kind", base + "training: {optimizer: {kind: rmsprop}}\n",
       "training.optimizer.kind:", "adamw"},
      {"sgd has no beta1", base + "training: {optimizer: {kind: sgd, beta1: 0.9}}\n",
       "training.optimizer.beta1: unknown key", ""},
      {"lr schedule kind", base + "training: {lr_schedule: {kind: onecycle}}\n",
       "training.lr_schedule.kind:", ""},
      {"milestones", base + "training: {lr_schedule: {kind: multistep, milestones: [10, x]}}\n",
       "training.lr_schedule.milestones[1]:", ""},
      {"qat bits", "model: m.onnx\nstages:\n  - qat: {weights: {bits: 16}}\n",
       "stages[0].qat.weights.bits: 16 is outside", ""},
      {"observer", "model: m.onnx\nstages:\n  - ptq: {activations: {observer: median}}\n",
       "stages[0].ptq.activations.observer:", "entropy"},
      {"freeze_bn_epoch word", "model: m.onnx\nstages:\n  - qat: {freeze_bn_epoch: soon}\n",
       "stages[0].qat.freeze_bn_epoch:", "integer"},
      {"freeze_bn_step on ptq", "model: m.onnx\nstages:\n  - ptq: {freeze_bn_step: 3}\n",
       "stages[0].ptq.freeze_bn_step:", "applies to qat"},
      {"bias correction without ptq", "model: m.onnx\nstages:\n  - bias_correction: {}\n",
       "stages[0].bias_correction:", "put it in the ptq stage"},
      {"equalization while training",
       "model: m.onnx\nstages:\n  - {equalization: {}, pruning: {pattern: \"2:4\"}}\n",
       "stages[0].equalization:", "calibrates only"},
      {"batch norm re-estimation beside ptq",
       "model: m.onnx\nstages:\n  - {batch_norm_reestimation: true, ptq: {}}\n",
       "stages[0].batch_norm_reestimation:", "stage of its own before"},
      {"bias correction batches",
       "model: m.onnx\nstages:\n  - {ptq: {}, bias_correction: {batches: 0}}\n",
       "stages[0].bias_correction.batches:", ""},
      {"adaround before ptq", "model: m.onnx\nstages:\n  - adaround: {}\n  - ptq: {}\n",
       "stages[0].adaround:", "ptq"},
      {"smooth_quant with ptq", "model: m.onnx\nstages:\n  - {smooth_quant: {}, ptq: {}}\n",
       "stages[0].smooth_quant:", "its own"},
      {"smooth_quant alpha", "model: m.onnx\nstages:\n  - smooth_quant: {alpha: 2}\n  - ptq: {}\n",
       "stages[0].smooth_quant.alpha:", ""},
      {"ptq with training", "model: m.onnx\nstages:\n  - {ptq: {}, pruning: {pattern: \"2:4\"}}\n",
       "stages[0].ptq:", "stage of its own"},
      {"teacher missing", "model: m.onnx\nstages:\n  - distillation: {alpha: 0.5}\n  - {qat: {}}\n",
       "stages[0].distillation.teacher: missing", ""},
      {"alpha range",
       "model: m.onnx\nstages:\n  - distillation: {teacher: t.onnx, alpha: 2}\n  - {qat: {}}\n",
       "stages[0].distillation.alpha: 2 is outside", ""},
      {"layer key",
       "model: m.onnx\nstages:\n  - distillation: {teacher: t.onnx, layers: [{student: a, teacher: "
       "b, wieght: 1}]}\n  - {qat: {}}\n",
       "stages[0].distillation.layers[0].wieght: unknown key", ""},
      {"self-distillation pairs",
       "model: m.onnx\nstages:\n  - self_distillation: {temperature: 3}\n  - {qat: {}}\n",
       "stages[0].self_distillation.pairs: missing", ""},
      {"self-distillation head grid",
       "model: m.onnx\nstages:\n  - self_distillation: {head_grid: 0, pairs: [{shallow: a}]}\n",
       "stages[0].self_distillation.head_grid: 0 is outside", ""},
      {"export format", base + "export: {format: tflite}\n", "export.format:", "qoperator"},
      {"float export of a quantized model", base + "export: {format: float}\n",
       "export.format:", "quantized"},
      {"qdq export without quantization",
       "model: m.onnx\nstages: [{name: a}]\nexport: {format: qdq}\n", "export.format:", "float"},
      // Ranges the export cannot write are refused before any training (lower.h).
      {"4-bit ptq activations", "model: m.onnx\nstages:\n  - ptq: {activations: {bits: 4}}\n",
       "stages[0].ptq.activations:", "[0, 255]"},
      {"narrow-range activations",
       "model: m.onnx\nstages:\n  - qat: {activations: {signed: true, narrow_range: true}}\n",
       "stages[0].qat.activations:", "[-127, 127]"},
      {"export outside the folder", base + "export: {path: ../x.onnx}\n",
       "export.path:", "inside the output folder"},
      {"export target", base + "export: {target: avx512}\n", "export.target:", "portable"},
      {"data set", base + "data: {dataset: cifar10}\n", "data.dataset:", "hdf5:FILE"},
      {"stage is a list", "model: m.onnx\nstages:\n  - [qat]\n", "stages[0]: expected a mapping",
       ""},
      {"duplicate key", "model: m.onnx\nmodel: n.onnx\nstages: [{qat: {}}]\n", "", "duplicate"},
      {"merge of a scalar", "model: m.onnx\nstages:\n  - {<<: 3, qat: {}}\n",
       "stages[0].<<:", "mapping"},
      {"not YAML", "model: [unclosed\n", "r.yaml: not valid YAML", ""},
  };
  for (const auto& bad : table) {
    const std::string e = error_of(bad.text);
    EXPECT_NE(e, "") << bad.what << ": no error";
    EXPECT_EQ(e.rfind(bad.path, 0), 0u) << bad.what << ": " << e;
    EXPECT_NE(e.find(bad.detail), std::string::npos) << bad.what << ": " << e;
  }
}

// Every spec a recipe accepts is one the export writes, and every one it refuses is one the
// export refuses: both read lower.h's list.
TEST(Recipe, QuantizationBitsAreWhatTheExportWrites) {
  for (int bits = 2; bits <= 8; ++bits) {
    for (const bool is_signed : {true, false}) {
      for (const char* role : {"weights", "activations"}) {
        const std::string text =
            fmt::format("model: m.onnx\nstages:\n  - qat: {{{}: {{bits: {}, signed: {}}}}}\n", role,
                        bits, is_signed);
        const compression::QuantSpec spec{.bits = bits, .is_signed = is_signed};
        const bool writable = compression::unwritable_reason(spec.quant_min(), spec.quant_max(),
                                                             std::string(role) == "weights") == "";
        EXPECT_EQ(error_of(text) == "", writable) << text;
        EXPECT_EQ(writable, bits == 8 || std::string(role) == "weights")
            << text;  // 2-8 bit weights, 8-bit activations
      }
    }
  }
}

TEST(Recipe, ExportFormatFollowsTheStagesWhenUnwritten) {
  EXPECT_EQ(parse_recipe("model: m.onnx\nstages: [{name: a}]\n").export_.format, "float");
  EXPECT_EQ(parse_recipe(
                "model: m.onnx\nstages: [{pruning: {pattern: \"2:4\"}}]\nexport: {path: p.onnx}\n")
                .export_.format,
            "float");
  EXPECT_EQ(parse_recipe("model: m.onnx\nstages: [{qat: {}}]\n").export_.format, "qdq");
  EXPECT_EQ(parse_recipe("model: m.onnx\nstages: [{ptq: {}}]\nexport: {format: qoperator}\n")
                .export_.format,
            "qoperator");
}

// One name per method: recipe key, Component::name(), logs and summaries.
TEST(Recipe, EveryComponentIsNamedAfterItsRecipeKey) {
  const std::string model = source_dir() + "/tests/data/models/cnn.onnx";
  const Recipe r = parse_recipe(
      "model: " + model +
      "\nstages:\n"
      "  - distillation: {teacher: " +
      model +
      "}\n"
      "    self_distillation: {pairs: [{shallow: x}]}\n"
      "    pruning: {pattern: \"2:4\"}\n"
      "    qat: {}\n"
      "  - pattern_lock: true\n"
      "  - ptq: {}\n"
      "  - batch_norm_reestimation: true\n"
      "  - {equalization: {relu6_to_relu: true}, ptq: {}, bias_correction: {batches: 4}}\n"
      "  - smooth_quant: {alpha: 0.7}\n"
      "  - ptq: {}\n"
      "  - adaround: {steps: 10}\n");
  std::vector<std::string> keys, names;
  for (const auto& stage : r.stages) {
    for (const auto& k : component_keys(stage)) keys.push_back(k);
    for (const auto& c : build_components(stage, r)) names.push_back(c->name());
  }
  EXPECT_EQ(names, keys);
  EXPECT_EQ(keys, (std::vector<std::string>{"distillation", "self_distillation", "pruning", "qat",
                                            "pattern_lock", "ptq", "batch_norm_reestimation",
                                            "equalization", "ptq", "bias_correction",
                                            "smooth_quant", "ptq", "adaround"}));
  EXPECT_TRUE(r.stages[4].equalization->relu6_to_relu);
  EXPECT_EQ(r.stages[4].bias_correction->batches, 4);
  EXPECT_DOUBLE_EQ(r.stages[5].smooth_quant->alpha, 0.7);
  EXPECT_EQ(r.stages[7].adaround->steps, 10);
}

TEST(Recipe, QatFreezeBatchNormKeys) {
  auto qat_of = [](const std::string& options) {
    return *parse_recipe("model: m.onnx\nstages:\n  - qat: " + options + "\n", "/models", "r.yaml")
                .stages.at(0)
                .qat;
  };
  EXPECT_EQ(qat_of("{}").freeze_bn_epoch, compression::kFreezeBnLastEpoch);
  EXPECT_EQ(qat_of("{freeze_bn_epoch: 2}").freeze_bn_epoch, 2);
  EXPECT_EQ(qat_of("{freeze_bn_epoch: 0}").freeze_bn_epoch, 0);
  EXPECT_EQ(qat_of("{freeze_bn_epoch: never}").freeze_bn_epoch, -1);
  EXPECT_EQ(qat_of("{freeze_bn_epoch: last}").freeze_bn_epoch, compression::kFreezeBnLastEpoch);
  EXPECT_EQ(qat_of("{freeze_bn_step: 500}").freeze_bn_step, 500);
  EXPECT_EQ(qat_of("{}").freeze_bn_step, -1);
  // Weight ranges by a per-channel histogram observer (per_channel is the weights' default).
  EXPECT_EQ(qat_of("{weights: {observer: mse}}").weights.observer.kind,
            compression::ObserverKind::kMse);
}

// export.target reaches every quantization stage (what QAT and PTQ simulate), portable when absent.
TEST(Recipe, ExportTargetReachesEveryQuantizationStage) {
  const std::string stages =
      "model: m.onnx\nstages:\n  - {name: q, qat: {}}\n  - {name: p, ptq: {}}\n";
  const Recipe portable = parse_recipe(stages, "/models", "r.yaml");
  EXPECT_EQ(portable.export_.target, compression::ExportTarget::kPortable);
  EXPECT_EQ(portable.stages.at(0).qat->target, compression::ExportTarget::kPortable);
  const Recipe arm = parse_recipe(stages + "export: {target: arm}\n", "/models", "r.yaml");
  EXPECT_EQ(arm.export_.target, compression::ExportTarget::kArm);
  EXPECT_EQ(arm.stages.at(0).qat->target, compression::ExportTarget::kArm);
  EXPECT_EQ(arm.stages.at(1).ptq->target, compression::ExportTarget::kArm);
}

TEST(Recipe, AnchorsAliasesAndMergeKeysShareValues) {
  const Recipe r = parse_recipe(R"(
definitions:
  lr: &lr 0.05
  prune: &prune {pattern: "2:4", criterion: snip_momentum}
model: student.onnx
training: {optimizer: {kind: sgd, lr: *lr}}
stages:
  - pruning: {<<: *prune, criterion: magnitude}
  - name: second
    optimizer: {kind: adamw, lr: *lr}
    pruning: *prune
  - ptq: {}
)",
                                "/models");
  EXPECT_EQ(r.model, "/models/student.onnx");
  EXPECT_EQ(std::get<SGD>(r.training.optimizer).lr, 0.05);
  EXPECT_EQ(std::get<AdamW>(*r.stages[1].optimizer).lr, 0.05);
  EXPECT_EQ(std::get<AdamW>(*r.stages[1].optimizer).weight_decay, 0.01);
  EXPECT_EQ(r.stages[0].pruning->pattern, "2:4");
  EXPECT_EQ(r.stages[0].pruning->criterion, compression::pruning::Criterion::kMagnitude)
      << "explicit keys win";
  EXPECT_EQ(r.stages[1].pruning->criterion, compression::pruning::Criterion::kSnipMomentum);
  EXPECT_TRUE(r.stages[2].ptq.has_value());
  EXPECT_EQ(r.export_.format, "qdq");
  EXPECT_EQ(r.hash.size(), 16u);
}

TEST(Recipe, SelfDistillationHeadShape) {
  const Recipe plain = parse_recipe(
      "model: m.onnx\nstages:\n  - self_distillation: {pairs: [{shallow: a}]}\n  - {qat: {}}\n");
  EXPECT_EQ(plain.stages[0].self_distillation->head_grid, 4);
  EXPECT_EQ(plain.stages[0].self_distillation->head_hidden, 64);
  const Recipe r = parse_recipe(
      "model: m.onnx\nstages:\n  - self_distillation: {head_grid: 1, head_hidden: 0, pairs: "
      "[{shallow: a}]}\n  - {qat: {}}\n");
  EXPECT_EQ(r.stages[0].self_distillation->head_grid, 1);
  EXPECT_EQ(r.stages[0].self_distillation->head_hidden, 0);
}

TEST(Recipe, EveryExampleRecipeParses) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(source_dir() + "/examples/recipes")) {
    if (e.path().extension() != ".yaml") continue;
    ++n;
    EXPECT_NO_THROW(load_recipe(e.path().string())) << e.path();
  }
  EXPECT_GE(n, 7);
}

}  // namespace
}  // namespace tamp::test

namespace tamp::test {
namespace {

TEST(Recipe, SearchStage) {
  const Recipe r = parse_recipe(R"(
model: m.onnx
training: {batch_size: 32}
stages:
  - name: search
    epochs: 2
    search: {strategy: basic, search: random, objectives: [params, macs], pick: "under:0.5", population: 6,
             generations: 2, width_ratios: [0.5, 1], heads: false, candidate_steps: 7, exclude: [fc2.*]}
  - name: finetune
)",
                                "/models", "r.yaml");
  ASSERT_TRUE(r.stages[0].search);
  const search::SearchOptions& o = *r.stages[0].search;
  EXPECT_EQ(o.strategy, "basic");
  EXPECT_EQ(o.search, "random");
  EXPECT_EQ(o.objectives, (std::vector<std::string>{"params", "macs"}));
  EXPECT_EQ(o.pick, "under:0.5");
  EXPECT_EQ(o.space.width_ratios, (std::vector<double>{0.5, 1}));
  EXPECT_FALSE(o.space.heads);
  EXPECT_TRUE(o.space.depth);
  EXPECT_EQ(o.candidate_steps, 7);
  EXPECT_EQ(o.space.exclude, (std::vector<std::string>{"fc2.*"}));
  EXPECT_FALSE(r.stages[1].search);

  const std::string head = "model: m.onnx\nstages:\n  - search: ";
  EXPECT_NE(error_of(head + "{strategy: ofa}\n").find("stages[0].search.strategy"),
            std::string::npos);
  EXPECT_NE(error_of(head + "{pick: \"best\"}\n").find("unknown pick rule 'best'"),
            std::string::npos);
  EXPECT_NE(
      error_of(head + "{objectives: [latency]}\n").find("stages[0].search.objectives: latency"),
      std::string::npos);
  EXPECT_NE(error_of(head + "{width_ratios: [0, 1]}\n").find("stages[0].search.width_ratios[0]"),
            std::string::npos);
  EXPECT_NE(error_of(head + "{populations: 3}\n").find("stages[0].search.populations: unknown key"),
            std::string::npos);
  EXPECT_NE(error_of(head + "{}\n    pruning: {pattern: channel, sparsity: 0.5}\n")
                .find("stage of its own"),
            std::string::npos);
}

}  // namespace
}  // namespace tamp::test
