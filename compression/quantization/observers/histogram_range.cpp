// Range selection over an observer histogram: percentile, entropy (KL) and MSE.
#include <tamp/compression/quantization/observers/histogram_observer.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace tamp::compression {

namespace {

std::pair<double, double> within(double lo, double hi, double min, double max) {
  return {std::clamp(lo, min, max), std::clamp(hi, min, max)};
}

double total_of(const Histogram& h) {
  double total = 0;
  for (double c : h.counts) total += c;
  TAMP_CHECK(total > 0, "the histogram is empty");
  return total;
}

}  // namespace

std::pair<double, double> percentile_range(const Histogram& h, double percentile, double min,
                                           double max) {
  const double total = total_of(h);
  const double w = h.bin_width();
  const double below_lo = total * (1 - percentile / 100), below_hi = total * percentile / 100;
  double lo = min, hi = max, cum = 0;
  bool lo_set = false;
  for (size_t i = 0; i < h.counts.size(); ++i) {
    const double before = cum;
    cum += h.counts[i];
    if (!lo_set && cum > below_lo) {
      lo = -h.range + static_cast<double>(i) * w;
      lo_set = true;
    }
    if (cum >= below_hi && before < below_hi) {
      hi = -h.range + static_cast<double>(i + 1) * w;
      break;
    }
  }
  return within(lo, hi, min, max);
}

std::pair<double, double> entropy_range(const Histogram& h, int levels, double min, double max) {
  total_of(h);
  const int64_t n = h.bins_per_sign();
  if (levels >= n) return {min, max};  // too few bins to improve on the full range
  // |x| histogram: bin k covers [k w, (k + 1) w).
  std::vector<double> a(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) a[k] = h.counts[n + k] + h.counts[n - 1 - k];
  // The bin at zero leaves the comparison: zero is exact under every threshold (the zero point),
  // and after a ReLU it holds a spike of about half the mass that Q, spreading each level's
  // mass over its bins, would smear into its neighbours; kept, it made every candidate with
  // more than one bin per level look worse than clipping, so the search clipped at the
  // smallest thresholds (about half the maximum of the CNN's ReLU outputs at 2048 bins, less
  // with finer histograms).
  a[0] = 0;
  int64_t used = n;
  while (used > levels && a[used - 1] == 0) --used;
  std::vector<double> tail(static_cast<size_t>(n + 1), 0.0);  // tail[i] = sum of a[i:]
  for (int64_t k = n - 1; k >= 0; --k) tail[k] = tail[k + 1] + a[k];

  double best_kl = std::numeric_limits<double>::infinity();
  int64_t best = used;
  std::vector<double> q(static_cast<size_t>(n));
  for (int64_t i = levels; i <= used; ++i) {
    // Q: the first i bins merged into `levels` levels, each level's mass spread evenly over
    // its non-empty bins (what quantizing the clipped distribution keeps).
    for (int64_t j = 0; j < levels; ++j) {
      const int64_t b = j * i / levels, e = (j + 1) * i / levels;
      double sum = 0;
      int64_t nonzero = 0;
      for (int64_t k = b; k < e; ++k) {
        sum += a[k];
        nonzero += a[k] > 0;
      }
      for (int64_t k = b; k < e; ++k) q[k] = a[k] > 0 ? sum / static_cast<double>(nonzero) : 0.0;
    }
    // P: the clipped distribution, outliers folded into the last bin. Both P and Q carry the
    // same total mass up to the outliers; normalise each.
    const double p_total = tail[0], q_total = tail[0] - tail[i];
    double kl = 0;
    for (int64_t k = 0; k < i; ++k) {
      const double pk = (k == i - 1 ? a[k] + tail[i] : a[k]) / p_total;
      if (pk <= 0) continue;
      const double qk = q[k] > 0 ? q[k] / q_total : 1e-12;  // outliers where Q has nothing
      kl += pk * std::log(pk / qk);
    }
    if (kl < best_kl) {
      best_kl = kl;
      best = i;
    }
  }
  const double t = static_cast<double>(best) * h.bin_width();
  return within(-t, t, min, max);
}

std::pair<double, double> mse_range(const Histogram& h, const QuantSpec& spec, double min,
                                    double max) {
  total_of(h);
  const double w = h.bin_width();
  std::vector<std::pair<double, double>> bins;  // (centre, count) of non-empty bins
  for (size_t i = 0; i < h.counts.size(); ++i) {
    if (h.counts[i] > 0)
      bins.emplace_back(-h.range + (static_cast<double>(i) + 0.5) * w, h.counts[i]);
  }
  const double qmin = static_cast<double>(spec.quant_min()),
               qmax = static_cast<double>(spec.quant_max());
  constexpr int kSteps = 400;
  double best_err = std::numeric_limits<double>::infinity(), best_a = 1;
  for (int k = kSteps; k >= 1; --k) {
    const double a = static_cast<double>(k) / kSteps;
    const QuantParams p = choose_qparams(spec, Tensor::scalar(a * min), Tensor::scalar(a * max));
    const double s = p.scale.item(), zp = p.zero_point.item();
    double err = 0;
    for (const auto& [x, count] : bins) {
      const double q = std::clamp(std::nearbyint(x / s) + zp, qmin, qmax);
      const double d = x - (q - zp) * s;
      err += count * d * d;
    }
    if (err < best_err) {
      best_err = err;
      best_a = a;
    }
  }
  return within(best_a * min, best_a * max, min, max);
}

}  // namespace tamp::compression
