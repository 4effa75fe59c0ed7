// Internal to scheduler/: the one writer and the one reader of a run's checkpoint layout
// (io/checkpoint.h stores it). Every checkpoint holds meta/recipe_hash, graph, trainable/NAME,
//   pos/stage, pos/in_stage, records/K, rng, run/ranks, run/batch (ranks x per-rank batch),
//   extra/* (the caller's);
// one written inside a stage adds the loop position and what the loop trains: pos/step,
//   pos/loss_sum, pos/window*, pos/steps, pos/skipped, pos/bad_in_a_row, param/NAME,
//   buffer/NAME, optim/*, comp/I/* (component I's state); docs/recipes.md#the-checkpoint-file
#pragma once

#include <tamp/io/checkpoint.h>
#include <tamp/scheduler/scheduler.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tamp::detail {

// What a stage starts from: its graph and which parameters train.
struct StageStart {
  std::string graph;
  std::map<std::string, Tensor> trainable;  // name -> 0/1
};
StageStart capture_stage_start(const nn::GraphModule& model);

// The part every checkpoint shares.
struct RunPosition {
  size_t stage = 0;  // the stage running (in_stage) or the next to run
  bool in_stage = false;
};
struct RunHeader {
  std::string recipe_hash;
  RunPosition at;
  const StageStart* start = nullptr;
  const std::vector<StageResult>* results = nullptr;  // the first at.stage are finished
  const Generator* generator = nullptr;
  int ranks = 1;
  int64_t batch_size = 0;  // per rank
  std::map<std::string, Tensor> extra;
};
io::Checkpoint run_checkpoint(const RunHeader& header);

// Adds a training loop's position and state to a checkpoint written inside a stage.
void add_loop_state(io::Checkpoint& c, const TrainCheckpointView& view,
                    const nn::GraphModule& model,
                    const std::vector<std::shared_ptr<compression::Component>>& components);

// A checkpoint read back, checked against the recipe and the stage list.
struct SavedRun {
  io::Checkpoint checkpoint;
  RunPosition at;
  StageStart start;
  int64_t step = 0;  // inside the stage; 0 at a stage boundary
};
SavedRun read_saved_run(const std::string& path, const std::string& recipe_hash, size_t stages);
// Fills the finished stages' results, the generator and gives the caller its extra tensors.
void restore_run(const SavedRun& saved, std::vector<StageResult>& results, Generator* generator);
// The per-rank batch that keeps the saved run's global batch on `ranks` ranks (scheduler.h's
// resume_batch).
ResumeBatch resume_batch(const io::Checkpoint& c, int64_t batch_size, int ranks);

// The loop position of a checkpoint written inside a stage.
std::shared_ptr<TrainProgress> read_loop_progress(const io::Checkpoint& c);
// Copies the saved parameters, buffers and component states into a stage being resumed.
void restore_loop_state(const io::Checkpoint& c, const nn::NamedParameters& trained,
                        nn::GraphModule& model,
                        const std::vector<std::shared_ptr<compression::Component>>& components);

}  // namespace tamp::detail
