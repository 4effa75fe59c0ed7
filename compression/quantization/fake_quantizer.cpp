#include <tamp/compression/quantization/batch_norm_folding.h>
#include <tamp/compression/quantization/fake_quantizer.h>
#include <tamp/nn/graph_edit.h>

#include <cmath>

namespace tamp::compression {

FakeQuantizer::FakeQuantizer(QuantizerOptions options) : options_(std::move(options)) {
  options_.weights.validate();
  options_.activations.validate();
  options_.weights = weights_for_target(options_.weights, options_.activations, options_.target);
}

nn::GraphModule& FakeQuantizer::model() const {
  TAMP_CHECK(model_, "{}: attach() was not called", name());
  return *model_;
}

void FakeQuantizer::attach(nn::GraphModule& m, nn::Collective& collective) {
  TAMP_CHECK(!model_, "{} is already attached to a model", name());
  nn::Graph g = m.export_graph();
  TAMP_CHECK(find_fake_quantize(g).empty(),
             "the model already holds FakeQuantize nodes (quantized twice?)");
  release_training_modes(g);
  if (options_.fold_batch_norm) folded_ = fold_batch_norms(g, options_.exclude, &folds_);
  remove_unused(g);
  const QuantPlan plan = plan_quantization(
      g, {.exclude = options_.exclude, .fuse_relu = !options_.activations.symmetric});
  sites_ = insert_fake_quantize(g, plan, options_.weights, options_.activations, /*bypass=*/true);
  g.metadata[std::string(kTargetMetadataKey)] = std::string(export_target_name(options_.target));
  m.set_graph(std::move(g));
  model_ = &m;
  collective_ = &collective;
  for (const auto& s : sites_) {
    if (!s.is_weight) observers_[s.value] = make_observer(s.spec);
    const bool learn = options_.learnable_scales;
    m.parameter(s.scale).set_requires_grad(learn);
    m.parameter(s.zero_point).set_requires_grad(false);
  }
  if (!pending_state_.empty()) {
    auto pending = std::move(pending_state_);
    pending_state_.clear();
    load_state(pending);
  }
}

std::vector<std::string> FakeQuantizer::extra_outputs() const {
  std::vector<std::string> out;
  if (active_ && options_.learnable_scales) return out;  // LSQ owns the scales now
  for (const auto& s : sites_) {
    if (s.is_weight) continue;
    const auto& obs = observers_.at(s.value);
    if (!obs->frozen()) out.push_back(s.input);
  }
  return out;
}

const Observer* FakeQuantizer::observer(const std::string& value) const {
  auto it = observers_.find(value);
  return it == observers_.end() ? nullptr : it->second.get();
}

void FakeQuantizer::observe(const Batch& batch) {
  for (const auto& s : sites_) {
    if (s.is_weight) continue;
    const Variable* v = nullptr;
    if (auto it = batch.values.find(s.input); it != batch.values.end())
      v = &it->second;
    else if (auto jt = batch.inputs.find(s.input); jt != batch.inputs.end())
      v = &jt->second;
    auto& obs = *observers_.at(s.value);
    if (!v || obs.frozen()) continue;
    TAMP_WITH_CONTEXT(fmt::format("observing '{}'", s.value), obs.observe(v->value()));
    observed_numel_[s.value] = v->value().numel();
  }
}

void FakeQuantizer::freeze_observers(bool frozen) {
  for (auto& [v, obs] : observers_) obs->freeze(frozen);
}

void FakeQuantizer::sync_observers() {
  if (!collective_ || collective_->size() <= 1) return;
  for (auto& [v, obs] : observers_) obs->sync(*collective_);
}

void FakeQuantizer::write_scale(const FakeQuantSite& s, const QuantParams& p) {
  Tensor scale = model().parameter(s.scale).value();
  Tensor zp = model().parameter(s.zero_point).value();
  TAMP_CHECK(scale.shape() == p.scale.shape(), "scale of '{}' changed shape from {} to {}", s.value,
             describe(scale), describe(p.scale));
  scale.copy_from(p.scale);
  zp.copy_from(p.zero_point);
}

Tensor FakeQuantizer::weight_value(const FakeQuantSite& s) const {
  for (const auto& l : live_) {
    if (l.fold.weight != s.value) continue;
    const nn::Node& bn = *model().graph().find_node(l.fold.bn.name);
    Tensor var;
    for (const auto& [name, v] : model().named_buffers())
      if (name == bn.inputs[4]) var = v.value();
    TAMP_CHECK(var.defined(), "BatchNormalization '{}' lost its running variance '{}'", bn.name,
               bn.inputs[4]);
    return live_folded_weight(model().parameter(s.value).value(),
                              model().parameter(bn.inputs[1]).value(), var,
                              bn.attrs->f("epsilon", 1e-5f));
  }
  return model().parameter(s.input).value();
}

void FakeQuantizer::unfold_batch_norms() {
  if (folds_.empty() || !live_.empty()) return;
  nn::Graph g = model().export_graph();
  for (const auto& f : folds_) {
    live_.push_back(unfold_for_training(g, f));
    for (auto& s : sites_)
      if (s.is_weight && s.value == f.weight) s.input = live_.back().folded_weight;
    if (bn_frozen_) set_batch_norm_frozen(g, live_.back(), true);
  }
  model().set_graph(std::move(g));
  if (!options_.learnable_scales) refresh_weight_scales();
}

void FakeQuantizer::freeze_batch_norms() {
  if (live_.empty()) return;
  if (collective_ && collective_->size() > 1) {
    // Frozen mid-epoch, each rank's running statistics differ: every rank freezes the mean.
    std::vector<Tensor> stats;
    for (const auto& [name, v] : model().named_buffers()) {
      for (const auto& l : live_) {
        if (name == l.fold.bn.inputs[3] || name == l.fold.bn.inputs[4]) stats.push_back(v.value());
      }
    }
    collective_->allreduce_many(stats, nn::Reduce::kMean);
  }
  nn::Graph g = model().export_graph();
  for (const auto& l : live_) set_batch_norm_frozen(g, l, true);
  model().set_graph(std::move(g));
  bn_frozen_ = true;
  if (!options_.learnable_scales) refresh_weight_scales();
}

void FakeQuantizer::refresh_weight_scales() {
  for (const auto& s : sites_) {
    if (!s.is_weight) continue;
    TAMP_WITH_CONTEXT(fmt::format("weight '{}'", s.value),
                      write_scale(s, weight_qparams(s.spec, weight_value(s))));
  }
}

void FakeQuantizer::refresh_activation_scales() {
  bool any = false;
  for (const auto& s : sites_) {
    if (s.is_weight) continue;
    const auto& obs = *observers_.at(s.value);
    if (!obs.has_data()) continue;
    TAMP_WITH_CONTEXT(fmt::format("activation '{}'", s.value), write_scale(s, obs.qparams()));
    any = true;
  }
  if (!active_ && any) activate();
}

void FakeQuantizer::activate() {
  for (const auto& s : sites_) {
    if (s.is_weight) continue;
    TAMP_CHECK(observers_.at(s.value)->has_data(),
               "activation '{}' was never observed: no calibration batch reached it", s.value);
  }
  nn::Graph g = model().export_graph();
  activate_fake_quantize(g, sites_);
  if (options_.learnable_scales) {
    // LSQ's gradient scale 1/sqrt(N Qp) keeps the scale's step size in proportion.
    for (auto& n : g.nodes) {
      for (const auto& s : sites_) {
        if (n.name != s.node) continue;
        const double count =
            s.is_weight ? static_cast<double>(weight_value(s).numel()) /
                              static_cast<double>(model().parameter(s.scale).value().numel())
                        : static_cast<double>(observed_numel_[s.value]);
        const double factor =
            1.0 / std::sqrt(std::max(1.0, count) * static_cast<double>(s.spec.quant_max()));
        n.attrs = nn::attrs_with(fake_quantize_attrs(s.spec, factor));
      }
    }
  }
  model().set_graph(std::move(g));
  active_ = true;
}

void FakeQuantizer::finalize(nn::GraphModule& m) {
  TAMP_CHECK(&m == model_, "{}: finalize() got another model than attach()", name());
  sync_observers();
  freeze_observers();
  if (!options_.learnable_scales) {
    refresh_weight_scales();
    refresh_activation_scales();
  } else if (!active_) {
    refresh_activation_scales();
  }
  if (!active_) activate();
  if (!live_.empty()) {
    // The export folds the final running statistics: what eval() simulated is what ORT runs.
    nn::Graph g = m.export_graph();
    for (const auto& l : live_) {
      refold(g, l);
      for (auto& s : sites_)
        if (s.is_weight && s.value == l.fold.weight) s.input = l.fold.weight;
    }
    m.set_graph(std::move(g));
    live_.clear();
  }
  for (const auto& s : sites_) {
    Variable scale = m.parameter(s.scale), zp = m.parameter(s.zero_point);
    scale.set_requires_grad(false);
    zp.set_requires_grad(false);
    // LSQ may leave scales anywhere; export needs positive ones.
    Tensor sv = scale.value();
    for (int64_t i = 0; i < sv.numel(); ++i) {
      const float v = sv.data<float>()[i];
      if (!(std::isfinite(v) && v > 0)) {
        throw Error(fmt::format("the scale of '{}' became {} during training", s.value, v),
                    ErrorKind::kNumerical, "lower the learning rate or disable learnable scales");
      }
    }
  }
}

std::map<std::string, Tensor> FakeQuantizer::state() const {
  std::map<std::string, Tensor> out;
  out["active"] = Tensor::scalar(active_ ? 1 : 0);
  if (!folds_.empty()) out["batch_norm_frozen"] = Tensor::scalar(bn_frozen_ ? 1 : 0);
  for (const auto& [v, obs] : observers_) {
    for (auto& [k, t] : obs->state()) out["observer/" + v + "/" + k] = t;
    out["observer/" + v + "/frozen"] = Tensor::scalar(obs->frozen() ? 1 : 0);
  }
  return out;
}

void FakeQuantizer::load_state(const std::map<std::string, Tensor>& state) {
  if (!model_) {
    pending_state_ = state;
    return;
  }
  for (auto& [v, obs] : observers_) {
    const std::string prefix = "observer/" + v + "/";
    std::map<std::string, Tensor> mine;
    for (const auto& [k, t] : state) {
      if (k.rfind(prefix, 0) == 0 && k != prefix + "frozen") mine[k.substr(prefix.size())] = t;
    }
    obs->load_state(mine);
    auto f = state.find(prefix + "frozen");
    obs->freeze(f != state.end() && f->second.item() != 0);
  }
  if (auto f = state.find("batch_norm_frozen");
      f != state.end() && f->second.item() != 0 && !bn_frozen_) {
    bn_frozen_ = true;  // the running statistics came back with the model's buffers
    if (!live_.empty()) {
      nn::Graph g = model().export_graph();
      for (const auto& l : live_) set_batch_norm_frozen(g, l, true);
      model().set_graph(std::move(g));
    }
  }
  auto a = state.find("active");
  if (a != state.end() && a->second.item() != 0 && !active_) activate();
}

}  // namespace tamp::compression
