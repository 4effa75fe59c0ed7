#include <tamp/nn/data_loader.h>

#include <tamp/autograd/random.h>

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <numeric>

namespace tamp::nn {

namespace {

// splitmix64: decorrelates the generator seeds of neighbouring (seed, epoch) pairs.
uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), options_(options) {
  TAMP_CHECK(dataset_ != nullptr, "DataLoader: the dataset is null");
  TAMP_CHECK(options_.batch_size > 0, "DataLoader: batch_size {} must be positive",
             options_.batch_size);
  TAMP_CHECK(options_.prefetch_depth > 0, "DataLoader: prefetch_depth {} must be positive",
             options_.prefetch_depth);
  TAMP_CHECK(options_.num_shards > 0 && options_.shard >= 0 && options_.shard < options_.num_shards,
             "DataLoader: shard {} of {} is out of range", options_.shard, options_.num_shards);
}

DataLoader::~DataLoader() { stop_worker(); }

void DataLoader::set_epoch(int64_t epoch) {
  stop_worker();
  epoch_ = epoch;
  order_.clear();
  batches_ = next_batch_ = 0;
}

std::vector<int64_t> DataLoader::epoch_order(int64_t epoch) const {
  std::vector<int64_t> order(static_cast<size_t>(dataset_->size()));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (!options_.shuffle) return order;
  Generator g(mix(mix(options_.seed) ^ static_cast<uint64_t>(epoch)));
  for (size_t i = order.size(); i > 1; --i) {
    std::swap(order[i - 1], order[static_cast<size_t>(g.below(i))]);
  }
  return order;
}

std::vector<int64_t> DataLoader::shard_indices(int64_t epoch) const {
  std::vector<int64_t> order = epoch_order(epoch);
  const size_t shards = static_cast<size_t>(options_.num_shards);
  if (shards == 1 || order.empty()) return order;
  const size_t per_shard = (order.size() + shards - 1) / shards;
  std::vector<int64_t> mine;
  mine.reserve(per_shard);
  for (size_t k = 0; k < per_shard; ++k) {
    mine.push_back(order[(static_cast<size_t>(options_.shard) + k * shards) % order.size()]);
  }
  return mine;
}

int64_t DataLoader::num_batches() const {
  return num_batches(static_cast<int64_t>(dataset_->size()), options_.batch_size,
                     options_.num_shards, options_.drop_last);
}

int64_t DataLoader::num_batches(int64_t examples, int64_t batch_size, int num_shards,
                                bool drop_last) {
  const int64_t n = (examples + num_shards - 1) / num_shards;
  return drop_last ? n / batch_size : (n + batch_size - 1) / batch_size;
}

std::vector<int64_t> DataLoader::batch_indices(int64_t b) const {
  const size_t begin = static_cast<size_t>(b * options_.batch_size);
  const size_t end = std::min(order_.size(), begin + static_cast<size_t>(options_.batch_size));
  return {order_.begin() + static_cast<std::ptrdiff_t>(begin),
          order_.begin() + static_cast<std::ptrdiff_t>(end)};
}

void DataLoader::start() {
  stop_worker();
  order_ = shard_indices(epoch_);
  batches_ = num_batches();
  next_batch_ = next_build_ = 0;
  if (options_.prefetch && batches_ > 0) {
    stop_ = false;
    worker_ = std::thread([this] { worker_loop(); });
  }
}

void DataLoader::worker_loop() {
  // Idle priority: the worker runs on time the training threads leave free and never
  // preempts them (a woken normal-priority thread would, costing the consumer its slice on a
  // busy machine). If it gets no time, next() builds the batches itself.
  sched_param param{};
  pthread_setschedparam(pthread_self(), SCHED_IDLE, &param);
  for (;;) {
    int64_t b;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] {
        next_build_ = std::max(next_build_, next_batch_);  // skip what the consumer built
        return stop_ || next_build_ >= batches_ ||
               next_build_ - next_batch_ < options_.prefetch_depth;
      });
      if (stop_ || next_build_ >= batches_) return;
      b = next_build_++;
    }
    Slot slot;
    try {
      slot.batch = dataset_->get_batch(batch_indices(b));
    } catch (...) {
      slot.error = std::current_exception();
    }
    const bool failed = slot.error != nullptr;
    {
      std::lock_guard lock(mutex_);
      if (b >= next_batch_) ready_.emplace(b, std::move(slot));  // else the consumer built it
    }
    if (failed) return;
  }
}

std::optional<Batch> DataLoader::fail_pass(std::exception_ptr error) {
  stop_worker();
  next_batch_ = batches_;  // the pass ends with the error
  std::rethrow_exception(error);
}

std::optional<Batch> DataLoader::next() {
  if (next_batch_ >= batches_) return std::nullopt;
  if (!worker_.joinable()) return dataset_->get_batch(batch_indices(next_batch_++));
  std::unique_lock lock(mutex_);
  const int64_t b = next_batch_++;
  auto node = ready_.extract(b);
  lock.unlock();
  cv_.notify_one();  // one more batch may be built ahead
  if (node) {
    if (node.mapped().error) return fail_pass(node.mapped().error);
    return std::move(node.mapped().batch);
  }
  // Not ready (unclaimed, or the worker is still on it): never wait, build it here. The
  // dataset is deterministic, so the result is the worker's.
  try {
    return dataset_->get_batch(batch_indices(b));
  } catch (...) {
    return fail_pass(std::current_exception());
  }
}

void DataLoader::stop_worker() {
  if (worker_.joinable()) {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }
  ready_.clear();
  stop_ = false;
}

void DataLoader::Iterator::advance() {
  current_ = loader_->next();
  if (!current_) loader_ = nullptr;
}

}  // namespace tamp::nn
