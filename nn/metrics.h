// Classification metrics on logits (N, C) and integer labels (N), and a running mean.
//
//   int64_t hits = nn::count_correct(logits, labels);        // sum over ranks, then divide
//   double acc = nn::accuracy(logits, labels);               // in [0, 1]
//   double top5 = nn::top_k_accuracy(logits, labels, 5);
//   nn::RunningMean loss_avg;  loss_avg.add(loss, batch);    loss_avg.mean();
#pragma once

#include <tamp/autograd/tensor.h>

namespace tamp::nn {

// Examples whose label is among the k highest scores (ties: a score equal to the label's
// counts against it only when it comes from a lower class index, so argmax ties resolve to
// the first class, as torch.argmax and ONNX ArgMax do).
int64_t count_correct(const Tensor& logits, const Tensor& labels, int64_t k = 1);
double accuracy(const Tensor& logits, const Tensor& labels);
double top_k_accuracy(const Tensor& logits, const Tensor& labels, int64_t k);

// Weighted running mean (of per-batch losses, accuracies...).
class RunningMean {
 public:
  void add(double value, double weight = 1);
  double mean() const { return weight_ > 0 ? sum_ / weight_ : 0.0; }
  double sum() const { return sum_; }
  double weight() const { return weight_; }
  void reset() { sum_ = weight_ = 0; }

 private:
  double sum_ = 0;
  double weight_ = 0;
};

}  // namespace tamp::nn
