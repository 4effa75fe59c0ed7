#include <tamp/nn/data_loader.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <numeric>
#include <set>
#include <thread>

namespace tamp::nn {
namespace {

// x[i] = (i, 10 i, 100 i) as float, y[i] = i: every row names its example.
std::shared_ptr<TensorDataset> numbered(int64_t n) {
  Tensor x({n, 3});
  Tensor y({n}, DType::kInt64);
  for (int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < 3; ++k)
      x.data<float>()[i * 3 + k] = static_cast<float>(i * (k == 0 ? 1 : k == 1 ? 10 : 100));
    y.data<int64_t>()[i] = i;
  }
  return std::make_shared<TensorDataset>(x, y);
}

std::vector<std::vector<int64_t>> collect(DataLoader& loader) {
  std::vector<std::vector<int64_t>> out;
  for (const Batch& b : loader) {
    EXPECT_EQ(b.x.dim(0), b.y.dim(0));
    std::vector<int64_t> ys = b.y.to_vector<int64_t>();
    EXPECT_EQ(ys, b.indices);
    for (size_t k = 0; k < ys.size(); ++k)
      EXPECT_EQ(b.x.data<float>()[k * 3 + 2], 100.0f * static_cast<float>(ys[k]));
    out.push_back(ys);
  }
  return out;
}

TEST(DataLoader, SameSeedSameBatchesAndEveryExampleOnce) {
  auto data = numbered(103);
  DataLoader a(data, {.batch_size = 10, .seed = 7}), b(data, {.batch_size = 10, .seed = 7});
  const auto ba = collect(a);
  EXPECT_EQ(ba, collect(b));
  ASSERT_EQ(ba.size(), 11u);
  EXPECT_EQ(ba.back().size(), 3u);
  std::vector<int64_t> all;
  for (const auto& v : ba) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  std::vector<int64_t> want(103);
  std::iota(want.begin(), want.end(), 0);
  EXPECT_EQ(all, want);
  EXPECT_NE(ba.front(), std::vector<int64_t>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));  // shuffled
}

TEST(DataLoader, EpochsAndSeedsChangeTheOrderDeterministically) {
  auto data = numbered(50);
  DataLoader a(data, {.batch_size = 8, .seed = 1});
  const auto e0 = collect(a);
  EXPECT_EQ(collect(a), e0);  // a second pass of the same epoch repeats it
  a.set_epoch(1);
  const auto e1 = collect(a);
  EXPECT_NE(e1, e0);
  a.set_epoch(0);
  EXPECT_EQ(collect(a), e0);
  DataLoader other_seed(data, {.batch_size = 8, .seed = 2});
  EXPECT_NE(collect(other_seed), e0);
  EXPECT_EQ(a.epoch_order(1), DataLoader(data, {.seed = 1}).epoch_order(1));
}

TEST(DataLoader, PrefetchOnAndOffGiveIdenticalBatches) {
  auto data = numbered(257);
  for (int64_t epoch : {0, 3}) {
    DataLoader on(data, {.batch_size = 16, .seed = 5, .prefetch = true});
    DataLoader off(data, {.batch_size = 16, .seed = 5, .prefetch = false});
    on.set_epoch(epoch);
    off.set_epoch(epoch);
    EXPECT_EQ(collect(on), collect(off));
  }
}

TEST(DataLoader, DropLastAndNoShuffle) {
  auto data = numbered(23);
  DataLoader loader(data, {.batch_size = 5, .shuffle = false, .drop_last = true});
  EXPECT_EQ(loader.num_batches(), 4);
  const auto batches = collect(loader);
  ASSERT_EQ(batches.size(), 4u);
  EXPECT_EQ(batches[0], std::vector<int64_t>({0, 1, 2, 3, 4}));
  EXPECT_EQ(batches[3], std::vector<int64_t>({15, 16, 17, 18, 19}));
  DataLoader keep(data, {.batch_size = 5, .shuffle = false});
  EXPECT_EQ(keep.num_batches(), 5);
}

TEST(DataLoader, ShardsSplitTheEpochOrderEvenly) {
  auto data = numbered(10);
  std::vector<int64_t> seen;
  const auto order = DataLoader(data, {.seed = 3}).epoch_order(2);
  for (int s = 0; s < 3; ++s) {
    DataLoader shard(data, {.batch_size = 2, .seed = 3, .num_shards = 3, .shard = s});
    shard.set_epoch(2);
    const auto mine = shard.shard_indices(2);
    ASSERT_EQ(mine.size(), 4u);  // ceil(10 / 3), padded by wrapping around
    for (size_t k = 0; k < mine.size(); ++k) EXPECT_EQ(mine[k], order[(s + 3 * k) % 10]);
    for (const auto& b : collect(shard)) seen.insert(seen.end(), b.begin(), b.end());
  }
  EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 10u);
  EXPECT_THROW(DataLoader(data, {.num_shards = 2, .shard = 2}), Error);
}

// Fails on the example numbered `bad`; counts how many batches it assembled.
class FailingDataset : public Dataset {
 public:
  explicit FailingDataset(int64_t bad) : inner_(numbered(40)), bad_(bad) {}
  int64_t size() const override { return inner_->size(); }
  Batch get_batch(const std::vector<int64_t>& indices) const override {
    ++calls;
    for (int64_t i : indices) TAMP_CHECK(i != bad_, "example {} is corrupt", i);
    return inner_->get_batch(indices);
  }
  mutable std::atomic<int> calls{0};

 private:
  std::shared_ptr<TensorDataset> inner_;
  int64_t bad_;
};

TEST(DataLoader, PrefetchErrorsArriveWithTheFailedBatch) {
  auto data = std::make_shared<FailingDataset>(17);
  DataLoader loader(data, {.batch_size = 4, .shuffle = false, .prefetch = true});
  int good = 0;
  try {
    for (const Batch& b : loader) {
      (void)b;
      ++good;
    }
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("example 17 is corrupt"), std::string::npos);
  }
  EXPECT_EQ(good, 4);                       // batches 0..3 are fine, batch 4 holds example 17
  EXPECT_FALSE(loader.next().has_value());  // the pass ended with the error
}

// Slow only on the prefetch thread: the consumer must not wait for it, and the worker's
// late copies of batches the consumer built itself must be dropped.
class SlowWorkerDataset : public Dataset {
 public:
  explicit SlowWorkerDataset(std::thread::id consumer)
      : inner_(numbered(30)), consumer_(consumer) {}
  int64_t size() const override { return inner_->size(); }
  Batch get_batch(const std::vector<int64_t>& indices) const override {
    if (std::this_thread::get_id() != consumer_) {
      ++worker_calls;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return inner_->get_batch(indices);
  }
  mutable std::atomic<int> worker_calls{0};

 private:
  std::shared_ptr<TensorDataset> inner_;
  std::thread::id consumer_;
};

TEST(DataLoader, NeverWaitsForASlowWorker) {
  auto data = std::make_shared<SlowWorkerDataset>(std::this_thread::get_id());
  DataLoader slow(data, {.batch_size = 4, .seed = 2, .prefetch = true});
  DataLoader inline_loader(numbered(30), {.batch_size = 4, .seed = 2, .prefetch = false});
  slow.start();
  // Let the (idle-priority) worker claim batch 0 and get stuck in it.
  for (int i = 0; i < 400 && data->worker_calls.load() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const bool worker_started = data->worker_calls.load() > 0;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::vector<int64_t>> got;
  while (auto b = slow.next()) got.push_back(b->y.to_vector<int64_t>());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(got, collect(inline_loader));
  // Waiting on the worker would take >= 200 ms per batch it holds; building inline takes
  // microseconds. (A loose bound: a check that nothing blocks, not a speed assertion.)
  if (worker_started) EXPECT_LT(seconds, 0.15);
}

TEST(DataLoader, StopsCleanlyMidEpoch) {
  auto data = numbered(1000);
  for (int rep = 0; rep < 20; ++rep) {
    DataLoader loader(data, {.batch_size = 7, .seed = static_cast<uint64_t>(rep)});
    loader.start();
    ASSERT_TRUE(loader.next().has_value());
    loader.set_epoch(1);  // stops the worker while it may be blocked on a full queue
    loader.start();
    ASSERT_TRUE(loader.next().has_value());
  }  // destructor joins a worker still running
}

TEST(TensorDataset, ValidatesAndSplits) {
  EXPECT_THROW(TensorDataset(Tensor({4, 2}), Tensor({3}, DType::kInt64)), Error);
  auto data = numbered(10);
  EXPECT_THROW(data->get_batch({10}), Error);
  auto [train, val] = data->split(7);
  EXPECT_EQ(train->size(), 7);
  EXPECT_EQ(val->size(), 3);
  EXPECT_EQ(val->y().to_vector<int64_t>(), std::vector<int64_t>({7, 8, 9}));
}

}  // namespace
}  // namespace tamp::nn
