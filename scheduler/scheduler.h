// Scheduler: an ordered list of stages (append = multi-shot); a stage is one or more components
// trained together (combine = one-shot). Each stage starts from the model the previous one
// finalized; pruned weights stay locked.
// Checkpoint and resume: docs/recipes.md#checkpoints-and---resume
//
//   sched.append(Scheduler::combine({kd, prune}));          // shot 1: distil while pruning
//   sched.append(Stage{.components = {qat}, .epochs = 1});  // shot 2: QAT, masks locked
//   FitResult r = sched.fit(model, {.train = data.train, .eval = data.test});
#pragma once

#include <tamp/autograd/random.h>
#include <tamp/scheduler/trainer.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tamp {

struct Stage {
  std::string name = {};  // "" : "stage<i>"
  std::vector<std::shared_ptr<compression::Component>> components = {};
  std::optional<int> epochs = {};                   // unset: FitOptions::epochs
  std::optional<int64_t> max_steps_per_epoch = {};  // unset: FitOptions's
  std::optional<OptimizerSpec> optimizer = {};      // unset: FitOptions's
  std::optional<LrScheduleSpec> lr_schedule = {};   // unset: FitOptions's
  std::optional<int64_t> calibration_batches = {};  // calibration-only stages
  bool evaluate = true;                             // on FitOptions::eval after the stage
  bool lock_masks = true;                           // PatternLock after a pruning stage
};

struct StageResult {
  std::string name;
  std::vector<std::string> components;
  bool calibration_only = false;
  StageRecord record;
  double sparsity = 0;       // zeros over all Conv/Gemm/MatMul weights after the stage
  int64_t weight_bits = 32;  // of the quantized weights (32: float)
  int64_t size_bytes = 0;    // estimate: weights at their bits, the rest float
};

struct FitOptions {
  std::shared_ptr<const nn::Dataset> train;
  std::shared_ptr<const nn::Dataset> eval;
  int epochs = 1;
  int64_t max_steps_per_epoch = -1;
  int64_t batch_size = 64;  // per rank; a resume takes resume_batch()
  OptimizerSpec optimizer = SGD{.lr = 0.01, .momentum = 0.9};
  LrScheduleSpec lr_schedule = {};
  double label_smoothing = 0;
  uint64_t seed = 0;
  int max_nonfinite_steps = 5;
  int64_t calibration_batches = 32;
  int64_t log_every = 50;
  int64_t eval_batches = -1;  // -1: the whole eval set
  std::string input, output;
  nn::Collective* collective = nullptr;  // null: one process
  bool sync_batch_norm = false;          // data-parallel: TrainOptions::sync_batch_norm
  Generator* generator = nullptr;        // Dropout masks (saved in checkpoints)

  // stage index, its log line
  std::function<void(size_t, const StepLog&)> on_log;
  std::function<void(size_t, const Stage&)> on_stage_begin;
  std::function<void(size_t, const StageResult&)> on_stage_end;

  std::string checkpoint_path;   // "" : no checkpoints
  int64_t checkpoint_every = 0;  // steps; 0: at stage ends only
  bool resume = false;           // continue from checkpoint_path
  std::string recipe_hash;       // stored; a resume with another hash is refused
  // Extra tensors stored with each checkpoint (the CLI's metrics-file length), and given back
  // on resume before training continues.
  std::function<std::map<std::string, Tensor>()> extra_state;
  std::function<void(const std::map<std::string, Tensor>&)> load_extra_state;
  // Whether this process writes checkpoints (default: rank 0 of `collective`).
  std::function<bool()> is_writer;
};

struct FitResult {
  std::vector<StageResult> stages;
  bool resumed = false;
  size_t resumed_stage = 0;
  int64_t resumed_step = 0;
};

class Scheduler {
 public:
  // One stage training `components` together (one-shot).
  static Stage combine(std::vector<std::shared_ptr<compression::Component>> components);

  Scheduler& append(Stage stage);
  Scheduler& append(std::shared_ptr<compression::Component> component);

  const std::vector<Stage>& stages() const { return stages_; }

  // requires: at least one stage; FitOptions::train set.
  // ensures: `model` holds the result of the last stage (finalized: masks baked, scales
  //          frozen); one StageResult per stage.
  FitResult fit(nn::GraphModule& model, const FitOptions& options);

 private:
  std::vector<Stage> stages_;
};

// The per-rank batch (FitOptions::batch_size) that resumes the run saved at checkpoint_path on
// `ranks` ranks: the global batch (ranks x per-rank batch) fixes each step's examples, the
// steps per epoch and the LR schedule, so a resume on another rank count keeps the saved one,
// each rank taking its share. `batch_size` when the checkpoint records none; throws when
// `ranks` does not divide the saved global batch. fit() refuses a resume with another one.
struct ResumeBatch {
  int64_t batch_size = 0;   // per rank, on `ranks` ranks
  int64_t saved_ranks = 0;  // 0: the checkpoint records no data-parallel shape
  int64_t global_batch = 0;
};
ResumeBatch resume_batch(const std::string& checkpoint_path, int64_t batch_size, int ranks);

// What StageResult's sparsity / bits / size fields measure, for a graph.
struct ModelStats {
  double sparsity = 0;
  int64_t weight_bits = 32;
  int64_t size_bytes = 0;
  int64_t float_bytes = 0;  // every parameter as float32
};
ModelStats model_stats(const nn::Graph& graph);

}  // namespace tamp
