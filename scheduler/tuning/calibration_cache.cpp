#include <tamp/autograd/variable.h>
#include <tamp/compression/quantization/observers/histogram_observer.h>
#include <tamp/nn/graph_module.h>
#include <tamp/scheduler/evaluate.h>
#include <tamp/scheduler/tuning/calibration_cache.h>

#include <fmt/format.h>

#include <algorithm>

namespace tamp::tuning {

using namespace compression;

namespace {

// Every histogram shares the spec's bins; the range rule is chosen later, per trial.
QuantSpec histogram_spec(int bins, ObserverKind kind = ObserverKind::kPercentile) {
  QuantSpec s = quint8;
  s.observer.kind = kind;
  s.observer.bins = bins;
  return s;
}

}  // namespace

CalibrationCache::CalibrationCache(nn::Graph float_graph, std::shared_ptr<const nn::Dataset> data,
                                   CalibrationOptions options)
    : graph_(std::move(float_graph)), data_(std::move(data)), options_(std::move(options)) {
  TAMP_CHECK(data_ && data_->size() > 0, "calibration needs a non-empty dataset");
  TAMP_CHECK(options_.batches > 0 && options_.batch_size > 0,
             "calibration batches ({}) and batch size ({}) must be positive", options_.batches,
             options_.batch_size);
  input_ = input_info(graph_, options_.input).name;
  const int64_t n = std::min(options_.batch_size, data_->size());
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = i;
  first_input_ = fit_input(input_info(graph_, input_), data_->get_batch(idx).x);
}

void CalibrationCache::observe(const std::vector<std::string>& values) {
  std::vector<std::string> todo;
  for (const auto& v : values) {
    if (!states_.count(v) && std::find(todo.begin(), todo.end(), v) == todo.end())
      todo.push_back(v);
  }
  if (todo.empty()) return;
  std::vector<std::string> outputs;
  for (const auto& v : todo)
    if (v != input_) outputs.push_back(v);
  std::map<std::string, std::unique_ptr<HistogramObserver>> obs;
  for (const auto& v : todo)
    obs[v] = std::make_unique<HistogramObserver>(histogram_spec(options_.bins));
  nn::GraphModule model(graph_);
  model.eval();
  NoGradGuard no_grad;
  const nn::ValueInfo& info = input_info(graph_, input_);
  const int64_t size = data_->size();
  for (int64_t b = 0; b < options_.batches && b * options_.batch_size < size; ++b) {
    std::vector<int64_t> idx;
    for (int64_t i = b * options_.batch_size; i < std::min(size, (b + 1) * options_.batch_size);
         ++i)
      idx.push_back(i);
    const Tensor x = fit_input(info, data_->get_batch(idx).x);
    auto out = outputs.empty() ? std::map<std::string, Variable>{}
                               : model.forward({{input_, Variable(x)}}, outputs);
    for (const auto& v : todo) {
      const Tensor& t = v == input_ ? x : out.at(v).value();
      if (b == 0) shapes_[v] = t.shape();
      if (t.dtype() != DType::kFloat32 || t.numel() == 0) continue;
      TAMP_WITH_CONTEXT(fmt::format("calibrating '{}'", v), obs.at(v)->observe(t));
    }
  }
  for (auto& [v, o] : obs) {
    if (o->has_data()) states_[v] = o->state();
  }
  ++passes_;
}

QuantParams CalibrationCache::qparams(const std::string& value, const QuantSpec& spec) {
  auto it = states_.find(value);
  TAMP_CHECK(it != states_.end(), "activation '{}' was not calibrated", value);
  const ObserverKind kind = spec.observer.kind == ObserverKind::kMovingAverageMinMax
                                ? ObserverKind::kMinMax
                                : spec.observer.kind;
  const std::string key =
      fmt::format("{}|{}|{}|{}|{}|{}", value, observer_name(kind), spec.symmetric, spec.is_signed,
                  spec.bits, spec.observer.percentile);
  if (auto m = memo_.find(key); m != memo_.end()) return m->second;
  QuantSpec s = spec;
  s.per_channel = false;
  s.observer.kind = kind;
  s.observer.bins = options_.bins;
  HistogramObserver h(s);
  h.load_state(it->second);
  QuantParams p = h.qparams();
  memo_[key] = p;
  return p;
}

}  // namespace tamp::tuning
