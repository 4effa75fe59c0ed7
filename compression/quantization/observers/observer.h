// Observers: watch the values a tensor takes and turn them into a range, then a scale and zero
// point; state is tensors (checkpoints, cross-rank sync). Kinds: docs/quantization.md#observers
//
//   auto obs = make_observer(quint8);                 // moving-average min-max, per tensor
//   for (auto& batch : calibration) obs->observe(activation(batch));
//   obs->sync(collective);                            // ranks agree (min/max, histograms)
//   QuantParams p = obs->qparams();                   // FakeQuantize's scale and zero point
#pragma once

#include <tamp/compression/quantization/qspec.h>
#include <tamp/nn/collective.h>

#include <map>
#include <memory>
#include <string>
#include <utility>

namespace tamp::compression {

class Observer {
 public:
  explicit Observer(QuantSpec spec);
  virtual ~Observer() = default;
  const QuantSpec& spec() const { return spec_; }

  // requires: x is float32; per channel, x has spec().axis with the channel count of the
  //           first observed tensor.
  // ensures: the range covers x as the kind prescribes; nothing happens while frozen.
  // Throws (kNumerical) when x holds NaN.
  void observe(const Tensor& x);
  virtual bool has_data() const = 0;
  // The range [min, max]: scalars, or [C] per channel. Throws when nothing was observed.
  virtual std::pair<Tensor, Tensor> range() const = 0;
  // choose_qparams(spec(), range()).
  QuantParams qparams() const;

  void freeze(bool frozen = true) { frozen_ = frozen; }
  bool frozen() const { return frozen_; }
  virtual void reset() = 0;

  // Collective reduction so every rank ends with the same range (min of mins, max of maxes,
  // mean of moving averages, sum of histograms). Every rank must call it.
  virtual void sync(nn::Collective& collective) = 0;

  virtual std::map<std::string, Tensor> state() const = 0;
  virtual void load_state(const std::map<std::string, Tensor>& state) = 0;

 protected:
  virtual void update(const Tensor& x) = 0;
  // The channel count of x along spec().axis (1 per tensor), checked against earlier batches.
  int64_t channels_of(const Tensor& x);
  int64_t channels_ = 0;  // 0 until the first batch

 private:
  QuantSpec spec_;
  bool frozen_ = false;
};

// The observer QuantSpec::observer.kind names. Throws for an invalid spec.
std::unique_ptr<Observer> make_observer(const QuantSpec& spec);

// Scale and zero point of a weight under `spec`: min-max of its current values (per channel
// when spec.per_channel), or, when spec.observer.kind is percentile, entropy or MSE, the range
// that histogram observer picks from these values alone (e.g. MSE clipping of outliers).
QuantParams weight_qparams(const QuantSpec& spec, const Tensor& weight);

// Per-channel (or per-tensor: channels = 1) minimum and maximum of x along `axis`.
// Throws (kNumerical) when x holds NaN. x must be float32 and non-empty.
std::pair<Tensor, Tensor> channel_min_max(const Tensor& x, bool per_channel, int axis);

// A state entry, checked: present, and (when `like` is defined) with like's shape and dtype.
Tensor state_entry(const std::map<std::string, Tensor>& state, const std::string& key,
                   const Tensor& like = {});

}  // namespace tamp::compression
