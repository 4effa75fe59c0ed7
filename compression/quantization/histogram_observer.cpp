#include <tamp/compression/quantization/histogram_observer.h>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace tamp::compression {

namespace {

double power_of_two_at_least(double v) {
  if (!(v > 0)) return 1.0;
  int exp = 0;
  const double m = std::frexp(v, &exp);  // v = m 2^exp, m in [0.5, 1)
  return m == 0.5 ? v : std::ldexp(1.0, exp);
}

void bin_into(const float* x, int64_t n, double lo, double inv_width, int64_t last, double* counts) {
  for (int64_t i = 0; i < n; ++i) {
    const int64_t b = static_cast<int64_t>((static_cast<double>(x[i]) - lo) * inv_width);
    counts[std::clamp<int64_t>(b, 0, last)] += 1;
  }
}

}  // namespace

void Histogram::grow_to(double amax) {
  if (range == 0) {
    range = power_of_two_at_least(amax);
    return;
  }
  const size_t total = counts.size();
  while (range < amax) {
    // Bin j of [-R, R] lands in bin total/4 + j/2 of [-2R, 2R]: pairs merge exactly.
    std::vector<double> merged(total, 0.0);
    for (size_t j = 0; j < total; ++j) merged[total / 4 + j / 2] += counts[j];
    counts.swap(merged);
    range *= 2;
  }
}

void Histogram::add(const float* x, int64_t n) {
  const double lo = -range, inv_width = 1.0 / bin_width();
  const int64_t last = static_cast<int64_t>(counts.size()) - 1;
  const int threads = n >= (1 << 16) ? omp_get_max_threads() : 1;
  if (threads == 1) {
    bin_into(x, n, lo, inv_width, last, counts.data());
    return;
  }
  std::vector<std::vector<double>> part(static_cast<size_t>(threads), std::vector<double>(counts.size(), 0.0));
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; ++t) {
    const int64_t b = n * t / threads, e = n * (t + 1) / threads;
    bin_into(x + b, e - b, lo, inv_width, last, part[static_cast<size_t>(t)].data());
  }
  for (const auto& p : part) for (size_t i = 0; i < counts.size(); ++i) counts[i] += p[i];
}

HistogramObserver::HistogramObserver(QuantSpec spec) : Observer(spec) {
  TAMP_CHECK(!spec.per_channel, "histogram observers are per tensor");
  reset();
}

void HistogramObserver::reset() {
  const int64_t per_sign = (spec().observer.bins + 1) / 2 * 2;
  hist_.counts.assign(static_cast<size_t>(2 * per_sign), 0.0);
  hist_.range = 0;
  min_ = std::numeric_limits<double>::infinity();
  max_ = -std::numeric_limits<double>::infinity();
  count_ = 0;
  channels_ = 0;
  synced_ = Histogram{};
  synced_count_ = 0;
}

void HistogramObserver::update(const Tensor& x) {
  channels_of(x);
  auto [lo, hi] = channel_min_max(x, false, 0);
  const double l = lo.item(), h = hi.item();
  if (!std::isfinite(l) || !std::isfinite(h)) {
    throw Error(fmt::format("observed values reach [{}, {}]: a histogram needs finite values", l, h),
                ErrorKind::kNumerical);
  }
  min_ = std::min(min_, l);
  max_ = std::max(max_, h);
  hist_.grow_to(std::max(-l, h));
  hist_.add(x.data<float>(), x.numel());
  count_ += static_cast<double>(x.numel());
}

std::pair<Tensor, Tensor> HistogramObserver::range() const {
  TAMP_CHECK(has_data(), "the observer has seen no data (calibrate on at least one batch first)");
  std::pair<double, double> r;
  switch (spec().observer.kind) {
    case ObserverKind::kPercentile: r = percentile_range(hist_, spec().observer.percentile, min_, max_); break;
    case ObserverKind::kEntropy: {
      // Levels available on the side(s) the data occupies.
      const int64_t levels = spec().quant_max() - spec().quant_min() + 1;
      r = entropy_range(hist_, static_cast<int>(min_ < 0 && max_ > 0 ? levels / 2 : levels), min_, max_);
      break;
    }
    case ObserverKind::kMse: r = mse_range(hist_, spec(), min_, max_); break;
    default: r = {min_, max_}; break;
  }
  return {Tensor::scalar(r.first), Tensor::scalar(r.second)};
}

void HistogramObserver::sync(nn::Collective& collective) {
  Tensor r = Tensor::scalar(hist_.range, DType::kFloat64);
  collective.allreduce(r, nn::Reduce::kMax);
  if (r.item() == 0) return;  // no rank saw data
  hist_.grow_to(r.item());
  if (hist_.range == 0) hist_.range = r.item();
  if (synced_.counts.size() != hist_.counts.size()) synced_.counts.assign(hist_.counts.size(), 0.0);
  synced_.grow_to(r.item());  // merging bin pairs is linear: the difference stays exact
  if (synced_.range == 0) synced_.range = r.item();
  // Only what this rank added since the previous sync is summed over the ranks.
  std::vector<double> delta(hist_.counts.size());
  for (size_t i = 0; i < delta.size(); ++i) delta[i] = hist_.counts[i] - synced_.counts[i];
  Tensor counts = Tensor::from_vector<double>({static_cast<int64_t>(delta.size())}, delta);
  Tensor lo = Tensor::scalar(min_, DType::kFloat64), hi = Tensor::scalar(max_, DType::kFloat64);
  Tensor n = Tensor::scalar(count_ - synced_count_, DType::kFloat64);
  collective.allreduce(counts, nn::Reduce::kSum);
  collective.allreduce(lo, nn::Reduce::kMin);
  collective.allreduce(hi, nn::Reduce::kMax);
  collective.allreduce(n, nn::Reduce::kSum);
  const double* added = counts.data<double>();
  for (size_t i = 0; i < delta.size(); ++i) hist_.counts[i] = synced_.counts[i] + added[i];
  min_ = lo.item();
  max_ = hi.item();
  count_ = synced_count_ + n.item();
  synced_ = hist_;
  synced_count_ = count_;
}

std::map<std::string, Tensor> HistogramObserver::state() const {
  if (!has_data()) return {};
  return {{"histogram", Tensor::from_vector<double>({static_cast<int64_t>(hist_.counts.size())}, hist_.counts)},
          {"range", Tensor::scalar(hist_.range, DType::kFloat64)},
          {"min", Tensor::scalar(min_, DType::kFloat64)},
          {"max", Tensor::scalar(max_, DType::kFloat64)},
          {"count", Tensor::scalar(count_, DType::kFloat64)}};
}

void HistogramObserver::load_state(const std::map<std::string, Tensor>& state) {
  reset();
  if (state.empty()) return;
  const Tensor like = Tensor::zeros({static_cast<int64_t>(hist_.counts.size())}, DType::kFloat64);
  const Tensor scalar = Tensor::scalar(0, DType::kFloat64);
  hist_.counts = state_entry(state, "histogram", like).to_vector<double>();
  hist_.range = state_entry(state, "range", scalar).item();
  min_ = state_entry(state, "min", scalar).item();
  max_ = state_entry(state, "max", scalar).item();
  count_ = state_entry(state, "count", scalar).item();
  const double r = hist_.range;
  TAMP_CHECK(r > 0 && std::isfinite(r) && power_of_two_at_least(r) == r && min_ <= max_ && count_ > 0,
             "histogram observer state is inconsistent (range {}, min {}, max {}, count {})", r, min_, max_, count_);
  channels_ = 1;
  // A saved state is the ranks' common one (checkpoints are taken after a sync).
  synced_ = hist_;
  synced_count_ = count_;
}

}  // namespace tamp::compression
