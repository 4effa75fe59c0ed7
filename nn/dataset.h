// Dataset: numbered examples that a DataLoader gathers into batches, and TensorDataset, the
// in-memory one (inputs x and targets y stacked along dim 0).
//
//   auto data = std::make_shared<nn::TensorDataset>(x, y);   // x (N, 1, 28, 28), y (N)
//   nn::Batch b = data->get_batch({3, 1, 4});                // b.x (3, 1, 28, 28), b.y (3)
//   auto [train, val] = data->split(50000);                  // rows [0, 50000) and the rest
#pragma once

#include <tamp/autograd/tensor.h>

#include <memory>
#include <utility>
#include <vector>

namespace tamp::nn {

struct Batch {
  Tensor x;                      // (B, ...) inputs
  Tensor y;                      // (B, ...) targets
  std::vector<int64_t> indices;  // the dataset rows, in batch order
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  // The examples at `indices`, stacked along a new leading dim; the same indices must give
  // the same batch (a DataLoader may build one twice). Called from the DataLoader's prefetch
  // thread too: must be safe to call concurrently with itself, and should not start parallel
  // (OpenMP) work of its own.
  virtual Batch get_batch(const std::vector<int64_t>& indices) const = 0;
};

class TensorDataset : public Dataset {
 public:
  // x and y share dim 0 (the example count); y may be undefined (unlabelled data).
  TensorDataset(Tensor x, Tensor y);

  int64_t size() const override { return x_.dim(0); }
  Batch get_batch(const std::vector<int64_t>& indices) const override;

  const Tensor& x() const { return x_; }
  const Tensor& y() const { return y_; }
  // Rows [begin, end) as a new dataset (copied).
  std::shared_ptr<TensorDataset> slice(int64_t begin, int64_t end) const;
  // Rows [0, at) and [at, size()).
  std::pair<std::shared_ptr<TensorDataset>, std::shared_ptr<TensorDataset>> split(int64_t at) const;

 private:
  Tensor x_, y_;
};

// A training set and a test set (io::fashion_mnist returns one).
struct TrainTest {
  std::shared_ptr<TensorDataset> train;
  std::shared_ptr<TensorDataset> test;
};

}  // namespace tamp::nn
