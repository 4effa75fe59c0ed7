// Distributed data-parallel training over MPI (Open MPI): one process per rank under `mpirun`,
// each training on its shard of every batch with gradients averaged; without mpirun, rank 0 of
// 1. Watchdog and collective semantics: docs/distributed.md#c-api-include-tampschedulerdisth
//
//   dist::Context world(argc, argv);          // a single process needs no mpirun
//   Trainer t(model, {}, {.train = data.train, .batch_size = 32,  // per rank
//                         .collective = &world.collective()});
//   if (world.is_root()) io::save_onnx(model, "out.onnx");
#pragma once

#include <tamp/autograd/cross_rank.h>
#include <tamp/nn/collective.h>
#include <tamp/nn/graph_module.h>
#include <tamp/nn/optimizer.h>

#include <cstddef>
#include <memory>
#include <string>

namespace tamp::dist {

// Exit status of a job ended by the watchdog.
constexpr int kWatchdogExitCode = 86;

struct ContextOptions {
  double watchdog_seconds = 7;  // 0 turns it off; env TAMP_DIST_WATCHDOG_SECONDS overrides
  size_t bucket_bytes = size_t{4} << 20;  // fused allreduce bucket size
};

// Timing of the collectives since the Context started (or since reset_stats()).
struct CollectiveStats {
  int64_t calls = 0;   // MPI collective calls (one per bucket for the _many variants)
  int64_t bytes = 0;   // payload bytes reduced or broadcast
  double seconds = 0;  // wall time inside MPI collectives (includes waiting for peers)
  int64_t nonblocking =
      0;  // of the calls, MPI_Iallreduce (gradient buckets started during backward)
};

class Context {
 public:
  // MPI_Init_thread under mpirun; nothing otherwise. argc/argv may be left out.
  Context(int argc, char** argv, ContextOptions options = {});
  explicit Context(ContextOptions options = {}) : Context(0, nullptr, options) {}
  // Waits for every rank (so no rank finalises while a peer still reduces), stops the
  // watchdog and finalises MPI. MPI cannot be initialised again in the same process.
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  int rank() const;
  int size() const;
  bool is_root() const { return rank() == 0; }
  // True when running under an MPI launcher (even with one rank).
  bool uses_mpi() const;
  // The host name, for logs ("rank 1 of 4 on node2").
  std::string host() const;

  nn::Collective& collective();
  void barrier() { collective().barrier(); }

  // Ends every rank of the job now with `exit_code` (MPI_Abort; a single process exits):
  // for a rank that cannot go on, so that its peers do not wait for it.
  [[noreturn]] void abort(int exit_code);

  CollectiveStats stats() const;
  void reset_stats();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Every parameter (trainable or not: BatchNorm running statistics, quantization scales) of
// `model` set to rank `root`'s values. Trainer::run does this itself before training.
void broadcast_parameters(nn::GraphModule& model, nn::Collective& collective, int root = 0);

// The running mean and variance of every BatchNormalization node averaged over ranks. Batch
// statistics in training stay per rank (each rank normalises with its own batch); this makes
// the evaluated and exported model the same on every rank. Returns the number of tensors.
int average_batch_norm_statistics(nn::GraphModule& model, nn::Collective& collective);

struct ReducerOptions {
  // Start each bucket's allreduce as soon as backward has finished its gradients (false: one
  // fused allreduce_many after backward, as before).
  bool overlap = true;
  // Bucket size for the overlapped reduction: small enough that the first buckets (the last
  // layers, whose gradients backward finishes first) start early; a larger tensor goes alone.
  size_t bucket_bytes = size_t{256} << 10;
};

// Averages the gradients of `params` over the ranks of `collective`, overlapping the
// communication with the backward pass: each parameter tells the reducer when its gradient is
// complete (a ready hook, autograd/ready_hook.h); buckets, in reverse parameter order (the
// order backward finishes them), start a nonblocking MPI_Iallreduce as soon as they are full
// and every earlier bucket has started — the same order on every rank. finish() starts the
// rest, waits, and writes the means into grad() (zeros for a parameter no gradient reached).
// The sums are the same as one blocking allreduce's, so parity with one process is unchanged.
// Without MPI (one process, or another nn::Collective) finish() falls back to allreduce_many.
//
//   dist::GradientReducer reducer(world.collective(), model.named_parameters());
//   reducer.arm();            // this step's backward may start reductions
//   loss.backward();
//   reducer.finish();         // every grad() is now the mean over ranks
//   optimizer.step();
//
// A gradient changed after its bucket started (a second backward in one step) is detected, and
// that step is reduced again, synchronously, from the final gradients.
class GradientReducer {
 public:
  GradientReducer(nn::Collective& collective, const nn::NamedParameters& params,
                  ReducerOptions options = {});
  ~GradientReducer();  // removes its hooks
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  void arm();
  void finish();
  // Buckets, and how many of them started during backward over all steps so far.
  int buckets() const;
  int64_t started_early() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Synchronised BatchNorm (TrainOptions::sync_batch_norm; the Trainer does this for its
// training loop): every BatchNormalization node of `model` gets the attribute
// tamp_sync_group naming a cross-rank sum over `collective` (autograd/cross_rank.h), so that
// in training its batch mean and variance, and in backward its two per-channel gradient sums,
// cover every rank: N ranks with batch B then train a BatchNorm model exactly like one
// process with batch N * B. The destructor removes the attribute (it is never exported).
// Each synchronised node costs two small allreduces in forward and one in backward.
class SyncBatchNorm {
 public:
  SyncBatchNorm(nn::GraphModule& model, nn::Collective& collective);
  ~SyncBatchNorm();
  SyncBatchNorm(const SyncBatchNorm&) = delete;
  SyncBatchNorm& operator=(const SyncBatchNorm&) = delete;
  int nodes() const { return nodes_; }

 private:
  nn::GraphModule& model_;
  std::unique_ptr<CrossRankGroup> group_;
  int nodes_ = 0;
};

// A 64-bit FNV-1a hash of the named parameters' values (names in order, shapes, bytes): ranks
// that agree print the same hash.
uint64_t parameter_hash(const nn::GraphModule& model);

}  // namespace tamp::dist
