// HistogramObserver: a histogram of everything observed, from which the range is chosen by
// percentile, entropy (KL divergence, TensorRT-style) or MSE (QuantSpec::observer.kind).
//
//   QuantSpec s = quint8;  s.observer = {.kind = ObserverKind::kEntropy};
//   HistogramObserver h(s);  for (...) h.observe(act);  auto [lo, hi] = h.range();
//
// The histogram covers [-R, R] with `bins` bins per sign, R a power of two. When a batch
// exceeds R, R doubles and pairs of bins merge, which is exact; so histograms of different
// ranks can be brought to a common R and summed (sync).
#pragma once

#include <tamp/compression/quantization/observer.h>

#include <vector>

namespace tamp::compression {

struct Histogram {
  std::vector<double> counts;  // 2 * bins, bin i covers [-R + i w, -R + (i + 1) w)
  double range = 0;            // R; 0 before any data

  int64_t bins_per_sign() const { return static_cast<int64_t>(counts.size() / 2); }
  double bin_width() const { return range / static_cast<double>(bins_per_sign()); }
  // Doubles R until it covers amax (merging bin pairs).
  void grow_to(double amax);
  void add(const float* x, int64_t n);
};

// Range selection over a histogram; min and max are the extremes observed (the result stays
// within them).
// [lo, hi] keeping `percentile` % of the mass below hi and above lo.
std::pair<double, double> percentile_range(const Histogram& h, double percentile, double min, double max);
// Threshold T minimising KL(P || Q) between the |x| distribution clipped at T and its
// quantization to `levels` levels; returns [max(min, -T), min(max, T)].
std::pair<double, double> entropy_range(const Histogram& h, int levels, double min, double max);
// [a min, a max] for the a in (0, 1] minimising the quantization MSE under spec.
std::pair<double, double> mse_range(const Histogram& h, const QuantSpec& spec, double min, double max);

class HistogramObserver : public Observer {
 public:
  explicit HistogramObserver(QuantSpec spec);
  bool has_data() const override { return count_ > 0; }
  std::pair<Tensor, Tensor> range() const override;
  void reset() override;
  // Common R (max over ranks), then sums of the counts added since the previous sync (so a
  // sync after every step counts each example once), min of mins, max of maxes.
  void sync(nn::Collective& collective) override;
  std::map<std::string, Tensor> state() const override;
  void load_state(const std::map<std::string, Tensor>& state) override;
  const Histogram& histogram() const { return hist_; }

 protected:
  void update(const Tensor& x) override;

 private:
  Histogram hist_;
  double min_, max_;
  double count_ = 0;
  Histogram synced_;         // hist_ as of the previous sync (the same on every rank)
  double synced_count_ = 0;
};

}  // namespace tamp::compression
