// DataLoader: batches of a Dataset in a seeded order, assembled on a background thread while
// the current batch trains; the order of an epoch is a function of (seed, epoch) alone.
//
//   nn::DataLoader loader(data, {.batch_size = 64, .shuffle = true, .seed = 1});
//   loader.set_epoch(epoch);                 // a new order, the same for the same (seed, epoch)
//   for (const nn::Batch& b : loader) train_step(b.x, b.y);
// Determinism, prefetching, sharding: docs/nn.md#dataloader
#pragma once

#include <tamp/nn/dataset.h>

#include <condition_variable>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

namespace tamp::nn {

struct DataLoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = true;
  uint64_t seed = 0;
  bool drop_last = false;  // drop a final batch smaller than batch_size
  bool prefetch = true;    // assemble upcoming batches on a background thread
  int prefetch_depth = 2;  // batches kept ready ahead of the consumer
  int num_shards = 1;
  int shard = 0;
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options = {});
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Selects the order of the next pass (stops a pass in progress).
  void set_epoch(int64_t epoch);
  int64_t epoch() const { return epoch_; }
  // The permutation of every example for `epoch` (identity without shuffle), before sharding.
  std::vector<int64_t> epoch_order(int64_t epoch) const;
  // This shard's examples for `epoch`, in the order they are batched.
  std::vector<int64_t> shard_indices(int64_t epoch) const;
  int64_t num_batches() const;
  // The batches of one shard of `examples` split over `num_shards` (every shard gets the
  // ceiling share; the last batch is smaller unless dropped).
  static int64_t num_batches(int64_t examples, int64_t batch_size, int num_shards = 1,
                             bool drop_last = false);
  const DataLoaderOptions& options() const { return options_; }
  const Dataset& dataset() const { return *dataset_; }

  // Starts a pass over the current epoch (restarting one in progress).
  void start();
  // The next batch of the pass, or nullopt when the pass is over.
  std::optional<Batch> next();

  class Iterator {
   public:
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    Iterator() = default;
    explicit Iterator(DataLoader* loader) : loader_(loader) { advance(); }
    const Batch& operator*() const { return *current_; }
    const Batch* operator->() const { return &*current_; }
    Iterator& operator++() {
      advance();
      return *this;
    }
    bool operator==(const Iterator& other) const { return loader_ == other.loader_; }

   private:
    void advance();
    DataLoader* loader_ = nullptr;
    std::optional<Batch> current_;
  };
  // A range-for pass over the current epoch: begin() calls start().
  Iterator begin() {
    start();
    return Iterator(this);
  }
  Iterator end() { return Iterator(); }

 private:
  std::vector<int64_t> batch_indices(int64_t b) const;
  void stop_worker();
  void worker_loop();
  std::optional<Batch> fail_pass(std::exception_ptr error);

  std::shared_ptr<const Dataset> dataset_;
  DataLoaderOptions options_;
  int64_t epoch_ = 0;
  std::vector<int64_t> order_;  // this shard's indices of the pass
  int64_t batches_ = 0;         // of the pass
  int64_t next_batch_ = 0;      // consumer position

  // Prefetch state, guarded by mutex_ while a worker runs. The worker claims batches in
  // order up to prefetch_depth ahead of the consumer; the consumer takes a ready batch or
  // builds it itself, never waiting. A worker's exception stands in for its batch.
  struct Slot {
    std::optional<Batch> batch;
    std::exception_ptr error;
  };
  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable cv_;     // wakes the worker
  std::map<int64_t, Slot> ready_;  // built, not yet consumed
  int64_t next_build_ = 0;         // the worker's next batch
  bool stop_ = false;
};

}  // namespace tamp::nn
