// HistogramObserver: a histogram of everything observed (one per channel when per channel),
// from which the range is chosen by percentile, entropy (KL) or MSE (QuantSpec::observer.kind).
// Bins, merging and sync: docs/quantization.md#observers
//
//   QuantSpec s = quint8;  s.observer = {.kind = ObserverKind::kEntropy};
//   HistogramObserver h(s);  for (...) h.observe(act);  auto [lo, hi] = h.range();
#pragma once

#include <tamp/compression/quantization/observers/observer.h>

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
std::pair<double, double> percentile_range(const Histogram& h, double percentile, double min,
                                           double max);
// Threshold T minimising KL(P || Q) between the |x| distribution clipped at T and its
// quantization to `levels` levels; returns [max(min, -T), min(max, T)].
std::pair<double, double> entropy_range(const Histogram& h, int levels, double min, double max);
// [a min, a max] for the a in (0, 1] minimising the quantization MSE under spec.
std::pair<double, double> mse_range(const Histogram& h, const QuantSpec& spec, double min,
                                    double max);

class HistogramObserver : public Observer {
 public:
  explicit HistogramObserver(QuantSpec spec);
  bool has_data() const override { return !hists_.empty() && hists_[0].count > 0; }
  // Scalars per tensor, [C] per channel.
  std::pair<Tensor, Tensor> range() const override;
  void reset() override;
  // Per channel: common R (max over ranks), then sums of the counts added since the previous
  // sync (so a sync after every step counts each example once), min of mins, max of maxes.
  void sync(nn::Collective& collective) override;
  // Per tensor: histogram [2 bins], range/min/max/count scalars; per channel: [C, 2 bins], [C].
  std::map<std::string, Tensor> state() const override;
  void load_state(const std::map<std::string, Tensor>& state) override;
  const Histogram& histogram(int64_t channel = 0) const {
    return hists_.at(static_cast<size_t>(channel)).hist;
  }

  struct Channel {
    Histogram hist;
    double min, max;
    double count = 0;
    Histogram synced;  // hist as of the previous sync (the same on every rank)
    double synced_count = 0;
  };

 protected:
  void update(const Tensor& x) override;

 private:
  void make_channels(int64_t count);
  std::pair<double, double> channel_range(const Channel& c) const;

  std::vector<Channel> hists_;  // one per tensor, C per channel (created by the first batch)
};

}  // namespace tamp::compression
