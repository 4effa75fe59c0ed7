#include <tamp/compression/quantization/observers/histogram_observer.h>

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

void bin_into(const float* x, int64_t n, double lo, double inv_width, int64_t last,
              double* counts) {
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
  std::vector<std::vector<double>> part(static_cast<size_t>(threads),
                                        std::vector<double>(counts.size(), 0.0));
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; ++t) {
    const int64_t b = n * t / threads, e = n * (t + 1) / threads;
    bin_into(x + b, e - b, lo, inv_width, last, part[static_cast<size_t>(t)].data());
  }
  for (const auto& p : part)
    for (size_t i = 0; i < counts.size(); ++i) counts[i] += p[i];
}

HistogramObserver::HistogramObserver(QuantSpec spec) : Observer(spec) { reset(); }

void HistogramObserver::make_channels(int64_t count) {
  const int64_t per_sign = (spec().observer.bins + 1) / 2 * 2;
  Channel c;
  c.hist.counts.assign(static_cast<size_t>(2 * per_sign), 0.0);
  c.min = std::numeric_limits<double>::infinity();
  c.max = -std::numeric_limits<double>::infinity();
  hists_.assign(static_cast<size_t>(count), c);
}

void HistogramObserver::reset() {
  hists_.clear();
  channels_ = 0;
  if (!spec().per_channel) make_channels(1);
}

void HistogramObserver::update(const Tensor& x) {
  const int64_t channels = channels_of(x);
  if (hists_.size() != static_cast<size_t>(channels)) make_channels(channels);
  auto [lo, hi] = channel_min_max(x, spec().per_channel, spec().axis);
  for (int64_t c = 0; c < channels; ++c) {
    const double l = lo.at(c), h = hi.at(c);
    if (!std::isfinite(l) || !std::isfinite(h)) {
      throw Error(fmt::format("observed values reach [{}, {}]{}: a histogram needs finite values",
                              l, h, spec().per_channel ? fmt::format(" in channel {}", c) : ""),
                  ErrorKind::kNumerical);
    }
    Channel& ch = hists_[static_cast<size_t>(c)];
    ch.min = std::min(ch.min, l);
    ch.max = std::max(ch.max, h);
    ch.hist.grow_to(std::max(-l, h));
  }
  if (!spec().per_channel) {
    hists_[0].hist.add(x.data<float>(), x.numel());
    hists_[0].count += static_cast<double>(x.numel());
    return;
  }
  // x as (outer, C, inner): channel c is `outer` runs of `inner` values.
  const int a = spec().axis < 0 ? spec().axis + x.rank() : spec().axis;
  int64_t inner = 1;
  for (int d = a + 1; d < x.rank(); ++d) inner *= x.dim(d);
  const int64_t outer = x.numel() / (channels * inner);
  const float* p = x.data<float>();
#pragma omp parallel for schedule(static) if (x.numel() >= (1 << 16))
  for (int64_t c = 0; c < channels; ++c) {
    Channel& ch = hists_[static_cast<size_t>(c)];
    const double inv_width = 1.0 / ch.hist.bin_width();
    const int64_t last = static_cast<int64_t>(ch.hist.counts.size()) - 1;
    for (int64_t o = 0; o < outer; ++o)
      bin_into(p + (o * channels + c) * inner, inner, -ch.hist.range, inv_width, last,
               ch.hist.counts.data());
    ch.count += static_cast<double>(outer * inner);
  }
}

std::pair<double, double> HistogramObserver::channel_range(const Channel& c) const {
  switch (spec().observer.kind) {
    case ObserverKind::kPercentile:
      return percentile_range(c.hist, spec().observer.percentile, c.min, c.max);
    case ObserverKind::kEntropy: {
      // Levels available on the side(s) the data occupies.
      const int64_t levels = spec().quant_max() - spec().quant_min() + 1;
      return entropy_range(c.hist, static_cast<int>(c.min < 0 && c.max > 0 ? levels / 2 : levels),
                           c.min, c.max);
    }
    case ObserverKind::kMse:
      return mse_range(c.hist, spec(), c.min, c.max);
    default:
      return {c.min, c.max};
  }
}

std::pair<Tensor, Tensor> HistogramObserver::range() const {
  TAMP_CHECK(has_data(), "the observer has seen no data (calibrate on at least one batch first)");
  if (!spec().per_channel) {
    const auto r = channel_range(hists_[0]);
    return {Tensor::scalar(r.first), Tensor::scalar(r.second)};
  }
  const int64_t n = static_cast<int64_t>(hists_.size());
  Tensor lo = Tensor::empty({n}), hi = Tensor::empty({n});
  for (int64_t c = 0; c < n; ++c) {
    const auto r = channel_range(hists_[static_cast<size_t>(c)]);
    lo.data<float>()[c] = static_cast<float>(r.first);
    hi.data<float>()[c] = static_cast<float>(r.second);
  }
  return {lo, hi};
}

void HistogramObserver::sync(nn::Collective& collective) {
  if (spec().per_channel) {
    // A rank that saw nothing does not know the channel count yet; the others tell it.
    Tensor c = Tensor::scalar(static_cast<double>(hists_.size()), DType::kFloat64);
    collective.allreduce(c, nn::Reduce::kMax);
    if (c.item() == 0) return;
    if (hists_.empty()) make_channels(static_cast<int64_t>(c.item()));
    TAMP_CHECK(hists_.size() == static_cast<size_t>(c.item()), "ranks observed {} and {} channels",
               hists_.size(), c.item());
  }
  const int64_t n = static_cast<int64_t>(hists_.size());
  const size_t bins = hists_[0].hist.counts.size();
  std::vector<double> ranges(static_cast<size_t>(n));
  for (int64_t c = 0; c < n; ++c)
    ranges[static_cast<size_t>(c)] = hists_[static_cast<size_t>(c)].hist.range;
  Tensor r = Tensor::from_vector<double>({n}, ranges);
  collective.allreduce(r, nn::Reduce::kMax);
  bool any = false;
  for (int64_t c = 0; c < n; ++c) any = any || r.data<double>()[c] > 0;
  if (!any) return;  // no rank saw data
  // Only what this rank added since the previous sync is summed over the ranks.
  std::vector<double> delta(static_cast<size_t>(n) * bins), lo(static_cast<size_t>(n)),
      hi(static_cast<size_t>(n)), added(static_cast<size_t>(n));
  for (int64_t c = 0; c < n; ++c) {
    Channel& ch = hists_[static_cast<size_t>(c)];
    const double rc = r.data<double>()[c];
    if (rc > 0) {
      ch.hist.grow_to(rc);
      if (ch.hist.range == 0) ch.hist.range = rc;
      if (ch.synced.counts.size() != bins) ch.synced.counts.assign(bins, 0.0);
      ch.synced.grow_to(rc);  // merging bin pairs is linear: the difference stays exact
      if (ch.synced.range == 0) ch.synced.range = rc;
    }
    for (size_t i = 0; i < bins; ++i) {
      delta[static_cast<size_t>(c) * bins + i] =
          ch.hist.counts[i] - (ch.synced.counts.empty() ? 0.0 : ch.synced.counts[i]);
    }
    lo[static_cast<size_t>(c)] = ch.min;
    hi[static_cast<size_t>(c)] = ch.max;
    added[static_cast<size_t>(c)] = ch.count - ch.synced_count;
  }
  Tensor counts = Tensor::from_vector<double>({static_cast<int64_t>(delta.size())}, delta);
  Tensor tlo = Tensor::from_vector<double>({n}, lo), thi = Tensor::from_vector<double>({n}, hi);
  Tensor tn = Tensor::from_vector<double>({n}, added);
  collective.allreduce(counts, nn::Reduce::kSum);
  collective.allreduce(tlo, nn::Reduce::kMin);
  collective.allreduce(thi, nn::Reduce::kMax);
  collective.allreduce(tn, nn::Reduce::kSum);
  for (int64_t c = 0; c < n; ++c) {
    Channel& ch = hists_[static_cast<size_t>(c)];
    if (r.data<double>()[c] == 0)
      continue;  // no rank saw this channel (cannot happen past the first batch)
    const double* sum = counts.data<double>() + static_cast<size_t>(c) * bins;
    for (size_t i = 0; i < bins; ++i) ch.hist.counts[i] = ch.synced.counts[i] + sum[i];
    ch.min = tlo.data<double>()[c];
    ch.max = thi.data<double>()[c];
    ch.count = ch.synced_count + tn.data<double>()[c];
    ch.synced = ch.hist;
    ch.synced_count = ch.count;
  }
}

std::map<std::string, Tensor> HistogramObserver::state() const {
  if (!has_data()) return {};
  const int64_t n = static_cast<int64_t>(hists_.size()),
                bins = static_cast<int64_t>(hists_[0].hist.counts.size());
  std::vector<double> counts, range, min, max, count;
  for (const auto& ch : hists_) {
    counts.insert(counts.end(), ch.hist.counts.begin(), ch.hist.counts.end());
    range.push_back(ch.hist.range);
    min.push_back(ch.min);
    max.push_back(ch.max);
    count.push_back(ch.count);
  }
  // Per tensor the shapes of the single-histogram format (checkpoints written before channels).
  const Shape hist_shape = spec().per_channel ? Shape{n, bins} : Shape{bins};
  const Shape shape = spec().per_channel ? Shape{n} : Shape{};
  return {{"histogram", Tensor::from_vector<double>(hist_shape, counts)},
          {"range", Tensor::from_vector<double>(shape, range)},
          {"min", Tensor::from_vector<double>(shape, min)},
          {"max", Tensor::from_vector<double>(shape, max)},
          {"count", Tensor::from_vector<double>(shape, count)}};
}

void HistogramObserver::load_state(const std::map<std::string, Tensor>& state) {
  reset();
  if (state.empty()) return;
  const int64_t bins = (spec().observer.bins + 1) / 2 * 2 * 2;
  int64_t n = 1;
  if (spec().per_channel) {
    const Tensor h = state_entry(state, "histogram");
    TAMP_CHECK(h.rank() == 2 && h.dim(0) > 0,
               "per-channel histogram observer state needs a [C, {}] histogram, got {}", bins,
               describe(h));
    n = h.dim(0);
  }
  make_channels(n);
  const Shape shape = spec().per_channel ? Shape{n} : Shape{};
  const Tensor like =
      Tensor::zeros(spec().per_channel ? Shape{n, bins} : Shape{bins}, DType::kFloat64);
  const Tensor per = Tensor::zeros(shape, DType::kFloat64);
  const auto counts = state_entry(state, "histogram", like).to_vector<double>();
  const auto range = state_entry(state, "range", per).to_vector<double>();
  const auto min = state_entry(state, "min", per).to_vector<double>();
  const auto max = state_entry(state, "max", per).to_vector<double>();
  const auto count = state_entry(state, "count", per).to_vector<double>();
  for (int64_t c = 0; c < n; ++c) {
    Channel& ch = hists_[static_cast<size_t>(c)];
    const size_t k = static_cast<size_t>(c);
    ch.hist.counts.assign(counts.begin() + static_cast<std::ptrdiff_t>(k * bins),
                          counts.begin() + static_cast<std::ptrdiff_t>((k + 1) * bins));
    ch.hist.range = range[k];
    ch.min = min[k];
    ch.max = max[k];
    ch.count = count[k];
    const double r = ch.hist.range;
    TAMP_CHECK(
        r > 0 && std::isfinite(r) && power_of_two_at_least(r) == r && ch.min <= ch.max &&
            ch.count > 0,
        "histogram observer state is inconsistent (channel {}: range {}, min {}, max {}, count {})",
        c, r, ch.min, ch.max, ch.count);
    // A saved state is the ranks' common one (checkpoints are taken after a sync).
    ch.synced = ch.hist;
    ch.synced_count = ch.count;
  }
  channels_ = spec().per_channel ? n : 1;
}

}  // namespace tamp::compression
