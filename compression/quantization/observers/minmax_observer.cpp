#include <tamp/compression/quantization/observers/minmax_observer.h>

#include <algorithm>
#include <limits>

namespace tamp::compression {

std::pair<Tensor, Tensor> MinMaxObserver::range() const {
  TAMP_CHECK(has_data(), "the observer has seen no data (calibrate on at least one batch first)");
  return {min_, max_};
}

void MinMaxObserver::reset() {
  min_ = Tensor();
  max_ = Tensor();
  channels_ = 0;
}

std::optional<std::pair<Tensor, Tensor>> MinMaxObserver::later_batch_range(const Tensor& x) {
  channels_of(x);
  auto [lo, hi] = channel_min_max(x, spec().per_channel, spec().axis);
  if (min_.defined()) return std::pair{lo, hi};
  min_ = lo;
  max_ = hi;
  return std::nullopt;
}

void MinMaxObserver::update(const Tensor& x) {
  const auto batch = later_batch_range(x);
  if (!batch) return;
  const auto& [lo, hi] = *batch;
  float* pl = min_.data<float>();
  float* ph = max_.data<float>();
  for (int64_t c = 0; c < min_.numel(); ++c) {
    pl[c] = std::min(pl[c], lo.data<float>()[c]);
    ph[c] = std::max(ph[c], hi.data<float>()[c]);
  }
}

void MinMaxObserver::sync(nn::Collective& collective) {
  // A rank that saw nothing contributes the neutral element; every rank must take part.
  TAMP_CHECK(
      min_.defined() || !spec().per_channel,
      "per-channel observer sync before any data: every rank must observe at least one batch");
  Tensor lo =
      min_.defined() ? min_.clone() : Tensor::scalar(std::numeric_limits<float>::infinity());
  Tensor hi =
      max_.defined() ? max_.clone() : Tensor::scalar(-std::numeric_limits<float>::infinity());
  collective.allreduce(lo, nn::Reduce::kMin);
  collective.allreduce(hi, nn::Reduce::kMax);
  if (min_.defined()) {
    min_ = lo;
    max_ = hi;
  }
}

std::map<std::string, Tensor> MinMaxObserver::state() const {
  if (!has_data()) return {};
  return {{"min", min_.clone()}, {"max", max_.clone()}};
}

void MinMaxObserver::load_state(const std::map<std::string, Tensor>& state) {
  if (state.empty()) {
    reset();
    return;
  }
  Tensor lo = state_entry(state, "min"), hi = state_entry(state, "max", lo);
  TAMP_CHECK(lo.dtype() == DType::kFloat32 && lo.rank() <= 1,
             "observer state 'min' must be a float32 scalar or "
             "vector, got {}",
             describe(lo));
  min_ = lo.clone();
  max_ = hi.clone();
  channels_ = spec().per_channel ? min_.numel() : 1;
}

void MovingAverageMinMaxObserver::update(const Tensor& x) {
  const auto batch = later_batch_range(x);
  if (!batch) return;
  const auto& [lo, hi] = *batch;
  const float c = static_cast<float>(spec().observer.averaging_constant);
  float* pl = min_.data<float>();
  float* ph = max_.data<float>();
  for (int64_t k = 0; k < min_.numel(); ++k) {
    pl[k] += c * (lo.data<float>()[k] - pl[k]);
    ph[k] += c * (hi.data<float>()[k] - ph[k]);
  }
}

void MovingAverageMinMaxObserver::sync(nn::Collective& collective) {
  if (!min_.defined()) {
    throw Error(
        "moving-average observer sync before any data: every rank must observe at least one batch");
  }
  // Synced after every update, the ranks enter an update with the same state, and the update
  // is monotonic in the batch's min and max: the min over ranks of the updated mins is the
  // update with the min over every rank's batch, i.e. exactly what one process seeing the
  // global batch computes (a mean would not be).
  collective.allreduce(min_, nn::Reduce::kMin);
  collective.allreduce(max_, nn::Reduce::kMax);
}

}  // namespace tamp::compression
