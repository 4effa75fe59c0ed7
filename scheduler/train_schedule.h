// How long a stage trains and how its learning rate moves: the one rule every caller uses
// (Trainer, Scheduler, the CLI commands). The Trainer resolves both when it starts, from the
// batches its data loader really has, so the schedule spans exactly the steps it runs.
//
//   TrainLength n = train_length(60000, 64, 3, -1);        // 938 steps per epoch, 2814 in all
//   auto lr = make_lr_schedule({.kind = "cosine"}, 0.01, n.total_steps);
#pragma once

#include <tamp/nn/lr_schedule.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tamp {

struct TrainLength {
  int64_t steps_per_epoch = 0;
  int64_t total_steps = 0;
};

// `examples` split over `num_shards` ranks (each runs the batches of its shard, the last one
// smaller: nn::DataLoader::num_batches), at most `max_steps_per_epoch` steps per epoch when
// it is >= 0 (0: no step), every epoch alike. Throws on a batch size < 1, epochs < 0 or
// num_shards < 1.
TrainLength train_length(int64_t examples, int64_t batch_size, int epochs,
                         int64_t max_steps_per_epoch, int num_shards = 1);

// A learning-rate schedule, resolved (make_lr_schedule) once the stage's length is known.
struct LrScheduleSpec {
  std::string kind = "constant";    // constant, cosine, step, multistep
  double eta_min = 0;               // cosine
  int64_t step_size = 1;            // step (in steps)
  std::vector<int64_t> milestones;  // multistep (in steps)
  double gamma = 0.1;               // step, multistep
  int64_t warmup_steps = 0;         // linear warm-up before any of them
  double warmup_start_factor = 0;
};

// The schedule from `lr` over `total_steps` steps (cosine reaches eta_min at the last step,
// after the warm-up; a run of no step gets a one-step schedule).
std::shared_ptr<const nn::LrSchedule> make_lr_schedule(const LrScheduleSpec& spec, double lr,
                                                       int64_t total_steps);

}  // namespace tamp
