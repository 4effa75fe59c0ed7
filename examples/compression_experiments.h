// The Fashion-MNIST pruning and distillation experiments behind the README's figures, shared
// by examples/prune_distill_figures.cpp (prints the tables) and the slow tests
// (tests/compression/*/slow_*_test.cpp, which check the accuracy budgets).
//
//   ExperimentOptions o;                       // 4 base epochs, 3 fine-tuning epochs, seed 1
//   Baseline b = train_baseline(model_file("cnn"), data, o);          // dense reference
//   PruningRow r = run_pruning(b, data, "2:4", pruning::Criterion::kMagnitude, o);
//   r.top1 - b.finetuned_top1                  // the accuracy cost of 2:4 (negative = loss)
//
// Every run uses SGD (momentum 0.9) with a cosine learning-rate decay over its stage, the same
// seed and data order; pruned and dense fine-tuning runs get the same number of epochs, so
// their difference is what pruning costs.
#pragma once

#include <tamp/compression/pruning/criteria.h>
#include <tamp/compression/pruning/schedule.h>
#include <tamp/nn/dataset.h>
#include <tamp/nn/graph.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace tamp::examples {

// How the 90 % unstructured runs prune (gradual magnitude pruning, Zhu & Gupta): the sparsity
// follows `curve` from 0 at the first fine-tuning step to the target at `end` (a fraction of
// the fine-tuning epochs), updated every `frequency` steps; the rest of the run fine-tunes at
// the final sparsity while the cosine learning rate decays. `global` (the default): one
// magnitude threshold over every pruned weight, so the target is 90 % of all Conv/Gemm weights
// together and the layers' own sparsities differ (the CNN's fc1, 91 % of those weights, ends
// sparser than 90 %, its one-channel conv1 and its classifier much less); otherwise each weight
// reaches 90 % itself (layer-wise), which costs about 1.5 pt on the CNN (README).
struct UnstructuredRecipe {
  bool global = true;
  double end = 2.0 / 3.0;
  int64_t frequency = 50;
  compression::pruning::Curve curve = compression::pruning::Curve::kCubic;
};

struct ExperimentOptions {
  int base_epochs = 4;      // the dense baseline, from the model file's initialisation
  int finetune_epochs = 3;  // every compressed run and the dense continuation
  int distill_epochs = 4;   // student runs (alone and with the teacher)
  int teacher_epochs = 4;
  int64_t max_steps_per_epoch = -1;  // -1: whole epochs (quick runs set a cap)
  int64_t batch_size = 64;
  double lr = 0.01;
  uint64_t seed = 1;
  UnstructuredRecipe unstructured = {};
  int64_t sd_head_grid = 4;  // self-distillation heads (SelfDistillationOptions)
  int64_t sd_head_hidden = 64;
  std::function<void(const std::string&)> log;  // progress lines (may be null)
};

std::string model_file(const std::string& source_dir, const std::string& name);

struct Baseline {
  nn::Graph trained;          // after base_epochs
  double top1 = 0;            // of `trained`
  double finetuned_top1 = 0;  // after finetune_epochs more, dense
  double seconds = 0;
};
Baseline train_baseline(const std::string& model_path, const nn::TrainTest& data,
                        const ExperimentOptions& o);

struct ShrinkSummary {
  int64_t parameters_before = 0, parameters_after = 0;  // float initializer elements
  std::vector<std::string> layers;                      // "conv1 32 -> 16", ...
};

struct PruningRow {
  std::string pattern, criterion, schedule;
  double target = 0;           // requested sparsity of the pruned weights
  double sparsity = 0;         // measured over the pruned weights of the exported model
  double model_sparsity = 0;   // over all Conv/Gemm weights
  bool pattern_valid = false;  // every pruned weight passes the checker
  std::vector<std::pair<std::string, double>> layers;  // sparsity of each pruned weight
  double top1 = 0;
  double seconds = 0;
  nn::Graph model;       // the pruned model as exported (masked; channels not removed)
  ShrinkSummary shrink;  // channel pattern: what shrink_pruned removes
};
// 2:4 (or any N:M / block pattern): pruned gradually over the first fine-tuning epoch, then
// fine-tuned. "unstructured" at `sparsity`: as o.unstructured says (by default global, cubic
// over the first two thirds of the run, then fine-tuning at the final sparsity). "channel" at
// `sparsity`: like N:M, and row.shrink says what removing the pruned channels saves. conv1 (one
// input channel) is left dense for N:M; channel targets are layer-wise.
PruningRow run_pruning(const Baseline& base, const nn::TrainTest& data, const std::string& pattern,
                       compression::pruning::Criterion criterion, const ExperimentOptions& o,
                       double sparsity = -1);

struct DistillationRow {
  std::string setting;  // "student alone", "KD T=4 alpha=0.7", ...
  double top1 = 0;
  double seconds = 0;
  std::vector<double> epoch_losses;  // the component's total extra loss per epoch
  // Per epoch, each term the component reports ("logits", "layer0", "head0.kd", "head0.ce", ...).
  std::vector<std::map<std::string, double>> history;
};
// The teacher (cnn_wide) trained teacher_epochs; then the student (cnn_half) alone and with
// logit KD, intermediate-layer KD and self-distillation, each distill_epochs, same seed.
std::vector<DistillationRow> run_distillation(const std::string& source_dir,
                                              const nn::TrainTest& data, const ExperimentOptions& o,
                                              double* teacher_top1 = nullptr);

}  // namespace tamp::examples
