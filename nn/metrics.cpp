#include <tamp/nn/metrics.h>

#include <cmath>

namespace tamp::nn {

namespace {

template <class T>
int64_t count_correct_impl(const T* scores, int64_t n, int64_t c, const Tensor& labels, int64_t k) {
  int64_t hits = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t = static_cast<int64_t>(labels.at(i));
    TAMP_CHECK(t >= 0 && t < c, "accuracy: label {} of example {} is outside [0, {})", t, i, c);
    const T* row = scores + i * c;
    const T target = row[t];
    if (std::isnan(target)) continue;
    int64_t above = 0;  // classes ranked before the label
    for (int64_t j = 0; j < c; ++j) above += (row[j] > target) || (row[j] == target && j < t);
    hits += above < k;
  }
  return hits;
}

}  // namespace

int64_t count_correct(const Tensor& logits, const Tensor& labels, int64_t k) {
  TAMP_CHECK(logits.rank() == 2, "accuracy: logits {} must be (N, C)", describe(logits));
  TAMP_CHECK(labels.rank() == 1 && labels.dim(0) == logits.dim(0) && !is_floating(labels.dtype()),
             "accuracy: labels {} must be integers, one per row of logits {}", describe(labels),
             describe(logits));
  TAMP_CHECK(k >= 1, "accuracy: k {} must be >= 1", k);
  const int64_t n = logits.dim(0), c = logits.dim(1);
  if (logits.dtype() == DType::kFloat32)
    return count_correct_impl(logits.data<float>(), n, c, labels, k);
  if (logits.dtype() == DType::kFloat64)
    return count_correct_impl(logits.data<double>(), n, c, labels, k);
  return count_correct_impl(logits.to(DType::kFloat64).data<double>(), n, c, labels, k);
}

double accuracy(const Tensor& logits, const Tensor& labels) {
  return top_k_accuracy(logits, labels, 1);
}

double top_k_accuracy(const Tensor& logits, const Tensor& labels, int64_t k) {
  const int64_t hits = count_correct(logits, labels, k);
  return logits.dim(0) ? static_cast<double>(hits) / static_cast<double>(logits.dim(0)) : 0.0;
}

void RunningMean::add(double value, double weight) {
  TAMP_CHECK(weight >= 0 && std::isfinite(weight), "RunningMean: weight {} must be finite and >= 0",
             weight);
  sum_ += value * weight;
  weight_ += weight;
}

}  // namespace tamp::nn
