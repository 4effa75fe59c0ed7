// Recipes: everything a `tamp run` needs, in one strict YAML file, parsed into a typed Recipe;
// build_scheduler() turns it into a Scheduler (the one place recipe sections become
// components). Errors start with the bad value's path. Format: docs/recipes.md,
// docs/recipe.schema.json
//
//   Recipe r = load_recipe("examples/recipes/demo.yaml");     // throws naming the bad key's path
//   Scheduler s = build_scheduler(r);                            // loads teachers
//   FitOptions o = fit_options(r);                               // datasets are the caller's
#pragma once

#include <tamp/compression/distillation/distillation.h>
#include <tamp/compression/distillation/self_distillation.h>
#include <tamp/compression/pruning/pruning.h>
#include <tamp/compression/quantization/fake_quantizer.h>
#include <tamp/compression/quantization/ptq/adaround.h>
#include <tamp/compression/quantization/ptq/bias_correction.h>
#include <tamp/compression/quantization/ptq/equalization.h>
#include <tamp/compression/quantization/ptq/smooth_quant.h>
#include <tamp/nn/input_normalization.h>
#include <tamp/scheduler/scheduler.h>
#include <tamp/scheduler/search/architecture_search.h>
#include <tamp/scheduler/tuning/recipe_tuning.h>

#include <optional>
#include <string>
#include <vector>

namespace tamp {

struct RecipeData {
  std::string dataset = "fashion-mnist";  // fashion-mnist, or hdf5:FILE (training set)
  std::string eval_dataset;  // hdf5:FILE for evaluation ("" : fashion-mnist's test split)
  std::string dir = "/usr/share/datasets/fashion-mnist";
  int64_t limit = -1;       // first N training examples (-1: all)
  int64_t eval_limit = -1;  // first N evaluation examples
  std::string normalize;    // "MEAN,STD", "train" or ""
};

struct RecipeDistillation {
  std::string teacher;  // ONNX path
  compression::DistillationOptions options;
};

struct RecipeStage {
  std::string name;
  std::optional<int> epochs;
  std::optional<int64_t> steps_per_epoch;
  std::optional<OptimizerSpec> optimizer;
  std::optional<LrScheduleSpec> lr_schedule;
  std::optional<int64_t> calibration_batches;
  bool evaluate = true;
  bool lock_masks = true;
  // Components, trained together in this order (only the ones present):
  std::optional<RecipeDistillation> distillation;
  std::optional<compression::SelfDistillationOptions> self_distillation;
  std::optional<compression::PruningOptions> pruning;
  bool pattern_lock = false;
  std::optional<compression::QuantizerOptions> qat;
  std::optional<compression::QuantizerOptions> ptq;  // calibration only: alone in its stage
  // Accuracy recovery for post-training quantization (calibration only): equalization
  // rewrites the float model before ptq; bias_correction follows ptq in its stage;
  // batch_norm_reestimation (on the stage's calibration batches) needs BatchNorm unfolded,
  // so it has a stage of its own before.
  std::optional<compression::EqualizationOptions> equalization;
  std::optional<compression::BiasCorrectionOptions> bias_correction;
  bool batch_norm_reestimation = false;
  // Calibration only, each alone in its stage: SmoothQuant folds before a ptq stage, AdaRound
  // learns the weight rounding after a ptq (or qat) stage.
  std::optional<compression::SmoothQuantOptions> smooth_quant;
  std::optional<compression::AdaRoundOptions> adaround;
  // Architecture search (scheduler/search): the stage's steps train the super-network (dynas),
  // then the chosen sub-network replaces the model; alone in its stage. Candidates are scored
  // on the run's evaluation data.
  std::optional<search::SearchOptions> search;
};

struct RecipeTraining {
  int epochs = 1;
  int64_t steps_per_epoch = -1;
  int64_t batch_size = 64;
  OptimizerSpec optimizer = SGD{.lr = 0.01, .momentum = 0.9};
  LrScheduleSpec lr_schedule;
  double label_smoothing = 0;
  int max_nonfinite_steps = 5;
  int64_t calibration_batches = 32;
  int64_t log_every = 50;
  int64_t checkpoint_every = 200;  // steps (0: stage ends only)
  int threads = 0;                 // OpenMP threads (0: default)
  bool sync_batch_norm = false;    // under mpirun: BatchNorm statistics over all ranks
};

struct RecipeEvaluation {
  bool after_each_stage = true;
  int64_t max_batches = -1;
};

struct RecipeExport {
  std::string format = "qdq";       // qdq, qoperator, float (float: no lowering); unwritten:
                                    // qdq after a qat / ptq stage, else float
  std::string path = "model.onnx";  // relative to the output folder
  // portable, vnni or arm (compression/quantization/export_target.h): every qat / ptq stage
  // quantizes its weights for it, and the export is checked against it (export parity).
  compression::ExportTarget target = compression::ExportTarget::kPortable;
};

struct Recipe {
  std::string file;           // where it was read ("" : from text)
  std::string base_dir;       // relative paths start here
  std::string model;          // ONNX path (resolved)
  std::string input, output;  // graph input / logits ("" : defaults)
  uint64_t seed = 0;
  RecipeData data;
  RecipeTraining training;
  RecipeEvaluation evaluation;
  std::vector<RecipeStage> stages;
  RecipeExport export_;
  std::optional<tuning::RecipeTuning> tuning;  // `tuning:` (tamp tune RECIPE.yaml); then no stages
  std::string hash;                            // FNV-1a 64 of the canonical text, hex
};

// `text` is YAML; `base_dir` resolves relative paths; `label` names the source in errors.
Recipe parse_recipe(const std::string& text, const std::string& base_dir = ".",
                    const std::string& label = "recipe");
Recipe load_recipe(const std::string& path);

// Every file the recipe reads exists and loads: the model and the teachers (as ONNX), the
// HDF5 datasets, the Fashion-MNIST files of data.dir when the data is fashion-mnist. Throws
// (kIo, kInvalidInput, kUnsupported) starting with the recipe key, e.g. "stages[0].
// distillation.teacher: ...". HDF5 files are checked to exist, not read.
void check_recipe_files(const Recipe& recipe);

// The recipe keys of a stage's components (qat, pruning, ...), in the order build_components
// combines them; each component's name() is its key.
std::vector<std::string> component_keys(const RecipeStage& stage);
// The components of one stage, in the order they are combined (teachers loaded here). With
// `normalization` (data.normalize, resolved by the caller), a teacher that does not normalize
// its input yet gets it as the student does (nn/input_normalization.h), so both read the
// same raw data; one that does (a model tamp wrote) keeps its own.
std::vector<std::shared_ptr<compression::Component>> build_components(
    const RecipeStage& stage, const Recipe& recipe,
    const std::optional<nn::InputNormalization>& normalization = {});
Scheduler build_scheduler(const Recipe& recipe,
                          const std::optional<nn::InputNormalization>& normalization = {});
// Every FitOptions field a recipe decides (not the datasets, callbacks or checkpoint path).
FitOptions fit_options(const Recipe& recipe);

}  // namespace tamp
