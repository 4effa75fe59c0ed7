// Trainer: one stage of training with compression components, calling their hooks in the
// order compression/component.h gives; calibration-only stages run forward passes instead.
// Non-finite losses skip the step, and too many in a row name the first NaN/Inf node.
//
//   Trainer t(model, {qat}, {.train = data.train, .eval = data.test, .epochs = 2,
//                            .optimizer = SGD{.lr = 0.01, .momentum = 0.9}});
//   StageRecord r = t.run();            // r.eval.top1, r.train_loss, r.seconds
#pragma once

#include <tamp/compression/component.h>
#include <tamp/nn/adam.h>
#include <tamp/nn/dataset.h>
#include <tamp/nn/lr_schedule.h>
#include <tamp/nn/sgd.h>
#include <tamp/scheduler/evaluate.h>
#include <tamp/scheduler/train_schedule.h>

#include <functional>
#include <map>
#include <memory>
#include <variant>

namespace tamp {

using SGD = nn::SgdOptions;
using Adam = nn::AdamOptions;
struct AdamW : nn::AdamOptions {};
using OptimizerSpec = std::variant<SGD, Adam, AdamW>;
std::unique_ptr<nn::Optimizer> make_optimizer(const OptimizerSpec& spec,
                                              nn::NamedParameters params);
double base_lr(const OptimizerSpec& spec);

struct StepLog {
  int epoch = 0;
  int64_t step = 0;  // within the stage
  int64_t total_steps = 0;
  double loss = 0;  // mean over the steps since the previous log
  double lr = 0;
  double samples_per_s = 0;
  // The loss's terms, means over the same steps: "task" (the weighted task loss) and, with
  // components that add losses, "<component>.<term>" (distillation.logits, ...). They sum to
  // `loss`.
  std::vector<std::pair<std::string, double>> terms;
};

// Where a stage's training loop is, for checkpoints: written after every step (taken or
// skipped) through TrainOptions::on_step_end, and handed back through TrainOptions::resume to
// continue exactly (the data order is a function of (seed, epoch), so the position suffices).
struct TrainProgress {
  int64_t step = 0;     // steps done in the stage, skipped ones included
  double loss_sum = 0;  // the running sums behind StageRecord and StepLog
  double window_sum = 0;
  std::map<std::string, double> window_terms;  // per loss term (StepLog::terms)
  int64_t window = 0;
  int64_t steps = 0;
  int64_t skipped = 0;
  int64_t bad_in_a_row = 0;
  std::map<std::string, Tensor> optimizer;  // optimizer state (nn/optimizer.h keys)
};

// What on_step_end sees: the progress (optimizer state not filled, read it from `optimizer`)
// and every trained parameter (the model's and the components').
struct TrainCheckpointView {
  const TrainProgress& progress;
  const nn::Optimizer& optimizer;
  const nn::NamedParameters& trained;
  bool epoch_end = false;  // the step was the last of its epoch
};

struct TrainOptions {
  std::shared_ptr<const nn::Dataset> train;
  std::shared_ptr<const nn::Dataset> eval;  // evaluated after the stage when set
  int epochs = 1;
  int64_t max_steps_per_epoch = -1;  // -1: whole epochs
  int64_t batch_size = 64;
  OptimizerSpec optimizer = SGD{.lr = 0.01, .momentum = 0.9};
  LrScheduleSpec lr_schedule;  // per step, over the stage's steps (train_length)
  double label_smoothing = 0;
  uint64_t seed = 0;  // data order
  int max_nonfinite_steps = 5;
  int64_t calibration_batches = 32;
  int64_t log_every = 50;
  std::function<void(const StepLog&)> on_log;
  std::string input;                     // empty: the graph's only input
  std::string output;                    // logits; empty: the first graph output
  nn::Collective* collective = nullptr;  // data-parallel ranks; null: one process
  // Data-parallel: gradient buckets start their allreduce while backward still runs
  // (dist::GradientReducer); false: one fused allreduce after backward.
  bool overlap_allreduce = true;
  // Data-parallel: BatchNorm batch statistics (and their backward sums) over every rank
  // (dist::SyncBatchNorm), so N ranks with batch B train like one process with batch N * B;
  // false: each rank normalises with its own batch.
  bool sync_batch_norm = false;
  // Data-parallel: BatchNorm running statistics averaged over ranks after every epoch (with
  // local batch statistics they differ per rank; synchronised, they agree already); off, each
  // rank keeps its own.
  bool average_batch_norm_statistics = true;
  // Checkpointing (scheduler/scheduler.h): called after every training step.
  std::function<void(const TrainCheckpointView&)> on_step_end;
  // Resuming: set, the loop starts at resume->step with these sums and optimizer state;
  // after_attach runs once the components are attached and their trainable parameters
  // exist (restore parameter values and component states there).
  std::shared_ptr<const TrainProgress> resume;
  std::function<void(const nn::NamedParameters& trained)> after_attach;
};

struct StageRecord {
  double train_loss = 0;  // mean over the stage's steps (NaN steps excluded)
  bool evaluated = false;
  EvalResult eval;
  double seconds = 0;
  int64_t steps = 0;
  int64_t skipped_steps = 0;
};

namespace dist {
class GradientReducer;
class SyncBatchNorm;
}  // namespace dist
namespace nn {
class DataLoader;
}

class Trainer {
 public:
  Trainer(nn::GraphModule& model, std::vector<std::shared_ptr<compression::Component>> components,
          TrainOptions options);
  ~Trainer();
  StageRecord run();

 private:
  struct Loop;
  void calibrate();
  // Trains the stage's epochs (from where options.resume left off) into record's steps,
  // skipped steps and train loss.
  void train(StageRecord& record, nn::DataLoader& loader, const TrainLength& length,
             compression::StepInfo& at);
  // Before training: SyncBatchNorm marks, the trained parameters, rank 0's values on every
  // rank, the gradient reducer.
  void prepare_training();
  // One epoch (at.epoch): its batches after those a resumed run has done, then its end hooks.
  void train_epoch(Loop& loop, nn::DataLoader& loader, compression::StepInfo& at,
                   int64_t per_epoch);
  // One batch: the optimizer step (or a skipped non-finite one), the log line, on_step_end.
  void take_step(Loop& loop, const nn::Batch& batch, compression::StepInfo& at, bool epoch_end);
  void log_window(Loop& loop, const compression::StepInfo& at);
  // The step's loss and its terms (StepLog::terms); false when the loss was not finite.
  bool train_step(const nn::Batch& batch, const compression::StepInfo& at, double& loss_out,
                  std::vector<std::pair<std::string, double>>& terms_out);
  [[noreturn]] void explain_nonfinite(const nn::Batch& batch);
  std::vector<std::string> wanted_outputs() const;

  nn::GraphModule& model_;
  std::vector<std::shared_ptr<compression::Component>> components_;
  TrainOptions options_;
  nn::Collective& collective_;
  std::string input_, output_;
  nn::NamedParameters trained_;  // the model's parameters and the components' own
  std::unique_ptr<dist::GradientReducer> reducer_;  // data-parallel runs, while run() trains
  std::unique_ptr<dist::SyncBatchNorm> sync_bn_;    // the same, with sync_batch_norm
};

}  // namespace tamp
