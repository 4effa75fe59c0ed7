#include <tamp/compression/pruning/detail/pruning_impl.h>

#include <regex>
#include <set>

namespace tamp::compression {

using namespace pruning;

namespace {

std::vector<std::regex> compile(const std::vector<std::string>& patterns, const char* what) {
  std::vector<std::regex> out;
  for (const auto& p : patterns) {
    try {
      out.emplace_back(p);
    } catch (const std::regex_error& e) {
      throw Error(
          fmt::format("pruning {}: '{}' is not a valid regular expression: {}", what, p, e.what()));
    }
  }
  return out;
}

bool any_match(const std::vector<std::regex>& res, const std::string& name) {
  for (const auto& re : res)
    if (std::regex_match(name, re)) return true;
  return false;
}

void check_sparsity(double s, const Pattern& p, const std::string& where) {
  if (!(s >= 0 && s < 1)) {
    throw Error(fmt::format("target sparsity {} for {} is outside [0, 1)", s, where),
                ErrorKind::kInvalidInput);
  }
  if (p.kind == PatternKind::kNofM && s > p.max_sparsity() + 1e-12) {
    throw Error(fmt::format("target sparsity {} for {} is above what {} allows ({})", s, where,
                            p.str(), p.max_sparsity()));
  }
}

double mask_sparsity(const Tensor& mask) {
  const Tensor m = mask.to(DType::kFloat32);
  const float* p = m.data<float>();
  int64_t zeros = 0;
  for (int64_t i = 0; i < m.numel(); ++i) zeros += p[i] == 0;
  return m.numel() ? static_cast<double>(zeros) / static_cast<double>(m.numel()) : 0.0;
}

Tensor nonzero_mask(const Tensor& w) {
  const Tensor f = w.to(DType::kFloat32);
  Tensor m = Tensor::empty(w.shape());
  const float* src = f.data<float>();
  float* dst = m.data<float>();
  for (int64_t i = 0; i < w.numel(); ++i) dst[i] = src[i] != 0 ? 1.0f : 0.0f;
  return m;
}

// What the options select: trainable parameters, include / exclude patterns and per-weight
// overrides; what they leave dense, with the reason.
class Selection {
 public:
  Selection(const PruningOptions& o, const nn::GraphModule& model)
      : o_(o), include_(compile(o.include, "include")), exclude_(compile(o.exclude, "exclude")) {
    for (const auto& [n, v] : model.named_parameters()) params_.insert(n);
    for (const auto& ov : o.overrides) overrides_.push_back(compile({ov.match}, "override")[0]);
  }

  const PruningOptions& options() const { return o_; }
  bool is_param(const std::string& name) const { return params_.count(name) > 0; }
  bool has_include() const { return !include_.empty(); }
  bool included(const std::string& name) const { return any_match(include_, name); }
  bool excluded(const std::string& name) const { return any_match(exclude_, name); }

  // The first override whose pattern matches one of the names.
  const PruningOverride* override_for(const std::vector<std::string>& names) const {
    for (size_t i = 0; i < o_.overrides.size(); ++i) {
      for (const auto& n : names)
        if (std::regex_match(n, overrides_[i])) return &o_.overrides[i];
    }
    return nullptr;
  }

  // The final sparsity: the override's, the options', or the N:M pattern's own.
  double target(const PruningOverride* ov, const Pattern& p, const std::string& where) const {
    std::optional<double> s = ov && ov->sparsity ? ov->sparsity : o_.target_sparsity;
    if (!s) {
      TAMP_CHECK(p.kind == PatternKind::kNofM, "pattern {} needs a target sparsity (for {})",
                 p.str(), where);
      s = p.max_sparsity();
    }
    check_sparsity(*s, p, where);
    return *s;
  }

  void skip(const std::string& name, const std::string& op, const std::string& pattern,
            std::string why) {
    skipped.push_back({name, op, pattern, 0, 0, std::move(why)});
  }

  std::vector<Pruning::LayerReport> skipped;

 private:
  const PruningOptions& o_;
  std::set<std::string> params_;
  std::vector<std::regex> include_, exclude_, overrides_;
};

std::vector<HeadTarget> select_heads(const nn::Graph& g, Selection& sel, const Pattern& pattern) {
  const auto blocks = find_attention_blocks(g);
  if (blocks.empty()) {
    throw Error(
        "the head pattern found no attention block in the graph", ErrorKind::kInvalidInput,
        "tamp recognises Q/K/V MatMul projections split by Reshape + Transpose, Softmax and a "
        "merging Reshape + MatMul (compression/pruning/heads.h)");
  }
  std::vector<HeadTarget> heads;
  for (const auto& b : blocks) {
    const std::vector<std::string> names{b.name, b.q_weight, b.k_weight, b.v_weight, b.o_weight};
    bool excluded = false;
    for (const auto& n : names) excluded = excluded || sel.excluded(n);
    const PruningOverride* ov = sel.override_for(names);
    if (excluded || (ov && ov->exclude) || (sel.has_include() && !sel.included(b.name))) {
      sel.skip(b.name, "attention", "head", "excluded");
      continue;
    }
    for (const auto& n : {b.q_weight, b.k_weight, b.v_weight, b.o_weight}) {
      TAMP_CHECK(sel.is_param(n), "attention block '{}': '{}' is not a trainable parameter", b.name,
                 n);
    }
    heads.push_back({b, sel.target(ov, pattern, fmt::format("attention block '{}'", b.name)), 0,
                     sel.options().global && !(ov && ov->sparsity)});
  }
  return heads;
}

// Channel pattern: the parameters indexed by the weight's output channel (its bias, the biases
// of the depthwise Convs and the scale and bias of the BatchNormalizations that follow).
std::vector<std::string> channel_followers(const nn::Graph& g, const PrunableWeight& w,
                                           const Selection& sel) {
  std::vector<std::string> followers;
  if (!w.bias.empty()) followers.push_back(w.bias);
  for (int dw : w.depthwise) {  // a depthwise filter reads zeros; its bias would not stay zero
    const nn::Node& n = g.nodes[dw];
    if (n.inputs.size() < 3 || n.inputs[2].empty()) continue;
    TAMP_CHECK(sel.is_param(n.inputs[2]),
               "channel pruning of '{}': {} '{}' bias '{}' is not a trainable parameter", w.weight,
               n.op_type, n.name, n.inputs[2]);
    followers.push_back(n.inputs[2]);
  }
  for (int bn : w.batch_norms) {
    const nn::Node& n = g.nodes[bn];
    for (size_t k = 1; k <= 2 && k < n.inputs.size(); ++k) {
      const std::string v = resolve_initializer(g, n.inputs[k]);
      TAMP_CHECK(sel.is_param(v),
                 "channel pruning of '{}': {} '{}' input '{}' is not a trainable parameter",
                 w.weight, n.op_type, n.name, n.inputs[k]);
      followers.push_back(v);
    }
  }
  return followers;
}

// Why `w` cannot be pruned with `p` ("" when it can).
std::string prune_problem(const PrunableWeight& w, const Pattern& p, const Selection& sel) {
  std::string problem = divisibility_problem(p, w.layout);
  if (problem.empty() && p.kind == PatternKind::kChannel) problem = w.channel_problem;
  if (problem.empty() && !sel.is_param(w.weight)) problem = "it is not a trainable parameter";
  return problem;
}

// The weight as a target, or nothing when the options leave it out or dense.
std::optional<WeightTarget> select_weight(const nn::Graph& g, PrunableWeight w, Selection& sel,
                                          const Pattern& pattern) {
  const PruningOptions& o = sel.options();
  const bool op_selected =
      std::count(o.op_types.begin(), o.op_types.end(), w.op_type) &&
      !std::count(o.exclude_op_types.begin(), o.exclude_op_types.end(), w.op_type);
  if (!op_selected) return std::nullopt;
  const PruningOverride* ov = sel.override_for({w.weight});
  const bool included = sel.included(w.weight);
  if (sel.has_include() && !included) return std::nullopt;
  if (sel.excluded(w.weight) || (ov && ov->exclude)) {
    sel.skip(w.weight, w.op_type, pattern.str(), "excluded");
    return std::nullopt;
  }
  const Pattern p = ov && ov->pattern ? Pattern::parse(*ov->pattern) : pattern;
  TAMP_CHECK(p.kind != PatternKind::kHead,
             "override for '{}': the head pattern applies to a whole model", w.weight);
  if (const std::string problem = prune_problem(w, p, sel); !problem.empty()) {
    if (included || ov != nullptr) {  // named by the user: refused rather than skipped
      throw Error(fmt::format("cannot prune '{}' {} ({} weight) with pattern {}: {}", w.weight,
                              to_string(w.layout.shape), w.op_type, p.str(), problem),
                  ErrorKind::kInvalidInput,
                  "exclude it, or give it another pattern with an override");
    }
    sel.skip(w.weight, w.op_type, p.str(), problem);
    return std::nullopt;
  }
  WeightTarget t;
  t.sparsity = sel.target(ov, p, fmt::format("'{}'", w.weight));
  t.pattern = p;
  t.global = o.global && !(ov && ov->sparsity) && p.kind != PatternKind::kNofM;
  if (p.kind == PatternKind::kChannel) t.followers = channel_followers(g, w, sel);
  t.info = std::move(w);
  return t;
}

std::vector<WeightTarget> select_weights(const nn::Graph& g, Selection& sel,
                                         const Pattern& pattern) {
  std::vector<WeightTarget> weights;
  std::set<std::string> seen;
  for (auto& w : find_prunable_weights(g)) {
    if (!seen.insert(w.weight).second) continue;  // a shared weight: its first use decides
    if (auto t = select_weight(g, std::move(w), sel, pattern)) weights.push_back(std::move(*t));
  }
  return weights;
}

}  // namespace

Pruning::Pruning(PruningOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->pattern = Pattern::parse(options.pattern);
  if (options.target_sparsity)
    check_sparsity(*options.target_sparsity, impl_->pattern, "the model");
  if (options.global && impl_->pattern.kind == PatternKind::kNofM) {
    throw Error(
        fmt::format(
            "global sparsity has no meaning for the {} pattern (every group keeps {} of {})",
            impl_->pattern.str(), impl_->pattern.n, impl_->pattern.m),
        ErrorKind::kInvalidInput, "drop `global` (N:M targets are per group)");
  }
  impl_->options = std::move(options);
}

Pruning::~Pruning() = default;

void Pruning::attach(nn::GraphModule& model, nn::Collective&) {
  Impl& I = *impl_;
  TAMP_CHECK(!I.model, "a Pruning component attaches to one model once");
  I.model = &model;
  Selection sel(I.options, model);
  if (I.pattern.kind == PatternKind::kHead) {
    I.heads = select_heads(model.graph(), sel, I.pattern);
  } else {
    I.weights = select_weights(model.graph(), sel, I.pattern);
  }
  I.skipped = std::move(sel.skipped);
  if (I.weights.empty() && I.heads.empty()) {
    std::string reasons;
    for (const auto& s : I.skipped)
      reasons += fmt::format("\n  {} ({}): {}", s.weight, s.op_type, s.skipped);
    throw Error(fmt::format("pruning with pattern {} found no weight to prune{}", I.pattern.str(),
                            reasons.empty() ? std::string(" (no Conv/Gemm/MatMul weight selected)")
                                            : reasons),
                ErrorKind::kInvalidInput);
  }
  I.add_masks();
  I.lock_existing_heads();
  I.sync_followers();
}

void Pruning::Impl::add_masks() {
  double global_zeros = 0, global_total = 0;
  for (auto& t : weights) {
    const Variable p = model->parameter(t.info.weight);
    const Tensor mask = nonzero_mask(p.value());
    t.initial = mask_sparsity(mask);
    if (t.global) {
      global_zeros += t.initial * static_cast<double>(mask.numel());
      global_total += static_cast<double>(mask.numel());
    }
    masks.add(t.info.weight, p, mask);
    params[t.info.weight] = p;
    trackers.emplace(t.info.weight, ScoreTracker(options.criterion));
    for (const auto& f : t.followers) {
      if (!masks.has(f))
        masks.add(f, model->parameter(f), Tensor::ones(model->parameter(f).shape()));
    }
  }
  for (auto& t : heads) {
    for (const auto& s : head_slices(t.block, 0)) {
      if (!masks.has(s.param)) {
        masks.add(s.param, model->parameter(s.param),
                  Tensor::ones(model->parameter(s.param).shape()));
      }
    }
    for (const auto& n : {t.block.q_weight, t.block.k_weight, t.block.v_weight, t.block.o_weight}) {
      trackers.emplace(n, ScoreTracker(options.criterion));
      params[n] = model->parameter(n);
    }
  }
  global_initial = global_total > 0 ? global_zeros / global_total : 0;
}

void Pruning::on_stage_begin(const StepInfo& at) {
  impl_->clock.emplace(impl_->options.schedule, at.steps_per_epoch);
}

void Pruning::on_after_backward(const StepInfo& at) {
  Impl& I = *impl_;
  TAMP_CHECK(I.model, "Pruning: attach before training");
  if (!I.clock) I.clock.emplace(I.options.schedule, at.steps_per_epoch);
  if (at.step > I.clock->end() && I.final_done) return;
  if (needs_gradients(I.options.criterion)) I.observe();
  if (I.clock->is_update(at.step)) I.update(at.step, at.step >= I.clock->end());
}

void Pruning::on_after_step(const StepInfo&) { impl_->masks.apply_to_values(); }

void Pruning::finalize(nn::GraphModule&) {
  Impl& I = *impl_;
  TAMP_CHECK(I.model, "Pruning: finalize before attach");
  if (!I.final_done) I.update(I.clock ? I.clock->end() : 0, true);
  I.masks.apply_to_values();
  if (I.options.keep_locked)
    I.masks.leave_hooks();
  else
    I.masks.release();
}

void Pruning::prune_now() {
  TAMP_CHECK(impl_->model, "Pruning: attach before prune_now");
  impl_->update(impl_->clock ? impl_->clock->end() : 0, true);
}

void Pruning::release() { impl_->masks.release(); }

std::map<std::string, Tensor> Pruning::masks() const { return impl_->masks.masks(); }

double Pruning::scheduled_sparsity(int64_t step) const {
  const Impl& I = *impl_;
  TAMP_CHECK(I.clock, "Pruning: the schedule is resolved at on_stage_begin");
  const double final_s = !I.weights.empty() ? I.weights[0].sparsity
                         : I.heads.empty()  ? 0
                                            : I.heads[0].sparsity;
  return I.clock->target(step, 0, final_s);
}

std::vector<Pruning::LayerReport> Pruning::report() const {
  const Impl& I = *impl_;
  std::vector<LayerReport> out;
  for (const auto& t : I.weights) {
    out.push_back({t.info.weight, t.info.op_type, t.pattern.str(), t.sparsity,
                   I.weight_sparsity(t.info.weight), ""});
  }
  for (const auto& t : I.heads)
    out.push_back({t.block.name, "attention", "head", t.sparsity, I.head_fraction(t), ""});
  out.insert(out.end(), I.skipped.begin(), I.skipped.end());
  return out;
}

std::map<std::string, Tensor> Pruning::state() const {
  const Impl& I = *impl_;
  std::map<std::string, Tensor> s;
  for (const auto& [name, m] : I.masks.masks()) s[name + ".mask"] = m.clone();
  for (const auto& [name, t] : I.trackers) {
    if (!t.state().defined()) continue;
    s[name + ".score"] = t.state().clone();
    s[name + ".count"] = Tensor::scalar(static_cast<double>(t.observations()), DType::kInt64);
  }
  s["pruning.last_update"] = Tensor::scalar(static_cast<double>(I.last_update), DType::kInt64);
  s["pruning.final_done"] = Tensor::scalar(I.final_done ? 1 : 0, DType::kInt64);
  return s;
}

void Pruning::load_state(const std::map<std::string, Tensor>& state) {
  Impl& I = *impl_;
  TAMP_CHECK(I.model, "Pruning: attach before load_state");
  for (const auto& entry : state) {
    const std::string& key =
        entry.first;  // a named reference, not a binding: clang 14 cannot capture those
    const Tensor& t = entry.second;
    auto ends = [&](const std::string& suffix) {
      return key.size() > suffix.size() &&
             key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (key == "pruning.last_update") {
      I.last_update = static_cast<int64_t>(t.item());
    } else if (key == "pruning.final_done") {
      I.final_done = t.item() != 0;
    } else if (ends(".mask")) {
      const std::string name = key.substr(0, key.size() - 5);
      TAMP_CHECK(I.masks.has(name),
                 "pruning state: '{}' is a mask for '{}', which this component does not prune", key,
                 name);
      Tensor& m = I.masks.mask(name);
      TAMP_CHECK(t.shape() == m.shape(), "pruning state: mask '{}' is {}, the parameter is {}", key,
                 describe(t), to_string(m.shape()));
      m.copy_from(t.to(m.dtype()));
      I.masks.refresh(name);
    } else if (ends(".score")) {
      const std::string name = key.substr(0, key.size() - 6);
      auto it = I.trackers.find(name);
      TAMP_CHECK(it != I.trackers.end(), "pruning state: no criterion state for '{}'", name);
      auto count = state.find(name + ".count");
      it->second.load_state(t,
                            count == state.end() ? 1 : static_cast<int64_t>(count->second.item()));
    } else {
      TAMP_CHECK(ends(".count"), "pruning state: unknown entry '{}'", key);
    }
  }
  I.masks.apply_to_values();
}

std::vector<Pruning::LayerReport> prune_once(nn::GraphModule& model,
                                             const PruningOptions& options) {
  Pruning p(options);
  p.attach(model, nn::local_collective());
  p.prune_now();
  p.finalize(model);
  p.release();
  return p.report();
}

}  // namespace tamp::compression
