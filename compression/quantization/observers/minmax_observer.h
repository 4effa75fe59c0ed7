// Min-max observers. MinMaxObserver keeps the running minimum and maximum of everything it
// saw (weights, calibration); MovingAverageMinMaxObserver an exponential moving average of
// each batch's min and max (QAT activations: early outliers fade out).
//
//   MinMaxObserver w(qint8_per_channel);   w.observe(weight);   QuantParams p = w.qparams();
#pragma once

#include <tamp/compression/quantization/observers/observer.h>

#include <optional>
#include <utility>

namespace tamp::compression {

class MinMaxObserver : public Observer {
 public:
  explicit MinMaxObserver(QuantSpec spec) : Observer(spec) {}
  bool has_data() const override { return min_.defined(); }
  std::pair<Tensor, Tensor> range() const override;
  void reset() override;
  // min of mins, max of maxes over ranks.
  void sync(nn::Collective& collective) override;
  std::map<std::string, Tensor> state() const override;
  void load_state(const std::map<std::string, Tensor>& state) override;

 protected:
  void update(const Tensor& x) override;
  // The batch's per-channel (or per-tensor) min and max; nothing when it is the first batch,
  // whose range then becomes min_ and max_.
  std::optional<std::pair<Tensor, Tensor>> later_batch_range(const Tensor& x);
  Tensor min_, max_;  // scalar or [C], float32
};

class MovingAverageMinMaxObserver : public MinMaxObserver {
 public:
  explicit MovingAverageMinMaxObserver(QuantSpec spec) : MinMaxObserver(spec) {}
  // mean over ranks.
  void sync(nn::Collective& collective) override;

 protected:
  void update(const Tensor& x) override;
};

}  // namespace tamp::compression
