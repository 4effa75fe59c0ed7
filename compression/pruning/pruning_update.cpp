// Mask updates of the Pruning component: scores -> units -> selection -> masks.
#include <tamp/compression/pruning/detail/pruning_impl.h>
#include <tamp/compression/pruning/selection.h>

#include <cmath>
#include <limits>

namespace tamp::compression {

using namespace pruning;

namespace {

constexpr double kPruned = -std::numeric_limits<double>::infinity();

void zero_at(Tensor& m, int64_t i) {
  if (m.dtype() == DType::kFloat32)
    m.data<float>()[i] = 0;
  else
    m.data<double>()[i] = 0;
}

int64_t count_zeros(const std::vector<float>& v) {
  int64_t n = 0;
  for (float x : v) n += x == 0;
  return n;
}

struct PendingWeight {
  size_t target;
  std::vector<float> mask;  // view order
  Units units;              // unstructured / block / channel
};

// A candidate per head of `t`: the mean of its slices' scores over the projections; a head
// whose V columns are masked already is kPruned.
std::vector<Candidate> head_candidates(const HeadTarget& t, int32_t owner,
                                       const std::map<std::string, Tensor>& scores,
                                       const Tensor& vmask) {
  std::vector<Candidate> c;
  for (int64_t h = 0; h < t.block.heads; ++h) {
    double sum = 0;
    int64_t count = 0;
    for (const auto& s : head_slices(t.block, h)) {
      if (!scores.count(s.param)) continue;  // biases do not score
      const float* sp = scores.at(s.param).data<float>();
      for_slice(scores.at(s.param).shape(), s.axis, s.begin, s.end, [&](int64_t k) {
        sum += sp[k];
        ++count;
      });
    }
    bool pruned = true;
    for_slice(vmask.shape(), 1, h * t.block.head_dim, (h + 1) * t.block.head_dim,
              [&](int64_t k) { pruned = pruned && vmask.data<float>()[k] == 0; });
    c.push_back(
        {pruned ? kPruned : sum / static_cast<double>(std::max<int64_t>(count, 1)), 1, owner, h});
  }
  return c;
}

}  // namespace

void Pruning::Impl::observe() {
  for (auto& [name, tracker] : trackers) {
    const Variable& p = masks.param(name);
    if (p.grad().defined()) tracker.observe(p.value(), p.grad());
  }
}

int64_t Pruning::Impl::pruned_heads(const HeadTarget& t) const {
  const Tensor m = masks.masks().at(t.block.v_weight).to(DType::kFloat32);
  const float* p = m.data<float>();
  int64_t pruned = 0;
  for (int64_t h = 0; h < t.block.heads; ++h) {
    bool zero = true;
    for_slice(m.shape(), 1, h * t.block.head_dim, (h + 1) * t.block.head_dim,
              [&](int64_t i) { zero = zero && p[i] == 0; });
    pruned += zero;
  }
  return pruned;
}

double Pruning::Impl::weight_sparsity(const std::string& weight) const {
  const Tensor v = params.at(weight).value().to(DType::kFloat32);
  int64_t zeros = 0;
  for (int64_t i = 0; i < v.numel(); ++i) zeros += v.data<float>()[i] == 0;
  return v.numel() ? static_cast<double>(zeros) / static_cast<double>(v.numel()) : 0.0;
}

double Pruning::Impl::head_fraction(const HeadTarget& t) const {
  const Tensor v = params.at(t.block.v_weight).value().to(DType::kFloat32);
  int64_t pruned = 0;
  for (int64_t h = 0; h < t.block.heads; ++h) {
    bool zero = true;
    for_slice(v.shape(), 1, h * t.block.head_dim, (h + 1) * t.block.head_dim,
              [&](int64_t i) { zero = zero && v.data<float>()[i] == 0; });
    pruned += zero;
  }
  return t.block.heads ? static_cast<double>(pruned) / static_cast<double>(t.block.heads) : 0.0;
}

void Pruning::Impl::lock_existing_heads() {
  for (auto& t : heads) {
    const Tensor v = masks.param(t.block.v_weight).value().to(DType::kFloat32);
    for (int64_t h = 0; h < t.block.heads; ++h) {
      bool zero = true;
      for_slice(v.shape(), 1, h * t.block.head_dim, (h + 1) * t.block.head_dim,
                [&](int64_t i) { zero = zero && v.data<float>()[i] == 0; });
      if (!zero) continue;
      zero_head(t.block, h);
    }
    t.initial = head_fraction(t);
  }
}

void Pruning::Impl::sync_followers() {
  for (const auto& t : weights) {
    if (t.followers.empty()) continue;
    const WeightLayout& l = t.info.layout;
    const std::vector<float> mv = to_view(masks.mask(t.info.weight), l);
    for (const auto& f : t.followers) {
      Tensor& fm = masks.mask(f);
      for (int64_t r = 0; r < l.out; ++r) {
        bool pruned = true;
        for (int64_t c = 0; c < l.reduction && pruned; ++c) pruned = mv[r * l.reduction + c] == 0;
        if (pruned && r < fm.numel()) zero_at(fm, r);
      }
      masks.refresh(f);
    }
  }
}

double Pruning::Impl::target_at(int64_t step, bool final, double initial, double fin) const {
  return final || !clock ? fin : clock->target(step, initial, fin);
}

void Pruning::Impl::update(int64_t step, bool final) {
  update_weights(step, final);
  sync_followers();
  update_heads(step, final);
  masks.apply_to_values();
  masks.apply_to_grads();
  for (auto& [name, tracker] : trackers) tracker.after_update();
  last_update = step;
  if (final || (clock && step >= clock->end())) final_done = true;
}

// Layer-wise targets prune directly; global ones pool their units and prune the lowest.
void Pruning::Impl::update_weights(int64_t step, bool final) {
  std::vector<PendingWeight> pending;
  std::vector<Candidate> pool;
  double pool_total = 0, pool_zeros = 0, global_final = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    const WeightTarget& t = weights[i];
    const WeightLayout& l = t.info.layout;
    const double numel = static_cast<double>(l.numel());
    std::vector<float> mv = to_view(masks.mask(t.info.weight), l);
    const auto zeros = static_cast<double>(count_zeros(mv));
    if (t.global) {
      pool_total += numel;
      pool_zeros += zeros;
      global_final = t.sparsity;
    } else if (target_at(step, final, t.initial, t.sparsity) * numel <= zeros + 0.5) {
      continue;  // nothing new to prune
    }
    pending.push_back({i, std::move(mv), {}});
  }
  const double global_target = target_at(step, final, global_initial, global_final) * pool_total;
  const bool pool_active = pool_total > 0 && global_target > pool_zeros + 0.5;

  for (auto& p : pending) {
    const WeightTarget& t = weights[p.target];
    if (t.global && !pool_active) continue;
    const WeightLayout& l = t.info.layout;
    const Variable& param = masks.param(t.info.weight);
    std::vector<float> sv;
    TAMP_WITH_CONTEXT(fmt::format("pruning '{}'", t.info.weight),
                      sv = to_view(trackers.at(t.info.weight).scores(param.value()), l));
    const double target = target_at(step, final, t.initial, t.sparsity);
    if (t.pattern.kind == PatternKind::kNofM) {
      prune_n_of_m(sv, t.pattern, l, target, p.mask);
      continue;
    }
    p.units = unit_scores(sv, p.mask, t.pattern, l);
    if (t.global) {
      const auto c = candidates(p.units, static_cast<int32_t>(p.target));
      pool.insert(pool.end(), c.begin(), c.end());
    } else {
      apply_units(p.units,
                  select_lowest(candidates(p.units, 0), target * static_cast<double>(l.numel())),
                  p.mask);
    }
  }
  if (pool_active && !pool.empty()) {
    const auto chosen = select_lowest(pool, global_target);
    std::map<size_t, std::vector<char>> flags;
    for (auto& p : pending)
      if (weights[p.target].global) flags[p.target].assign(p.units.count, 0);
    for (size_t i = 0; i < pool.size(); ++i)
      if (chosen[i]) flags[pool[i].owner][pool[i].unit] = 1;
    for (auto& p : pending)
      if (weights[p.target].global) apply_units(p.units, flags[p.target], p.mask);
  }
  for (auto& p : pending) {
    const WeightTarget& t = weights[p.target];
    if (t.global && !pool_active) continue;
    Tensor& m = masks.mask(t.info.weight);
    m.copy_from(from_view(p.mask, t.info.layout, m.dtype()));
    masks.refresh(t.info.weight);
  }
}

void Pruning::Impl::zero_head(const AttentionBlock& block, int64_t h) {
  for (const auto& s : head_slices(block, h)) {
    Tensor& m = masks.mask(s.param);
    for_slice(m.shape(), s.axis, s.begin, s.end, [&](int64_t i) { zero_at(m, i); });
    masks.refresh(s.param);
  }
}

// Units are whole heads, scored by the mean over the four projections.
void Pruning::Impl::update_heads(int64_t step, bool final) {
  std::vector<Candidate> head_pool;
  double head_pool_target = 0;
  std::vector<std::pair<size_t, std::vector<Candidate>>> head_local;
  for (size_t i = 0; i < heads.size(); ++i) {
    const HeadTarget& t = heads[i];
    const double target =
        target_at(step, final, t.initial, t.sparsity) * static_cast<double>(t.block.heads);
    const auto already = static_cast<double>(pruned_heads(t));
    if (!t.global && target <= already + 0.5) continue;
    std::map<std::string, Tensor> scores;
    for (const auto& n : {t.block.q_weight, t.block.k_weight, t.block.v_weight, t.block.o_weight}) {
      TAMP_WITH_CONTEXT(fmt::format("pruning heads of '{}'", t.block.name),
                        scores[n] = trackers.at(n).scores(masks.param(n).value()));
    }
    std::vector<Candidate> c = head_candidates(t, static_cast<int32_t>(i), scores,
                                               masks.mask(t.block.v_weight).to(DType::kFloat32));
    if (t.global) {
      head_pool.insert(head_pool.end(), c.begin(), c.end());
      head_pool_target += target;
    } else {
      head_local.emplace_back(i, std::move(c));
    }
  }
  auto prune_heads = [&](const std::vector<Candidate>& c, const std::vector<char>& chosen) {
    for (size_t k = 0; k < c.size(); ++k) {
      if (chosen[k]) zero_head(heads[c[k].owner].block, c[k].unit);
    }
  };
  for (const auto& [i, c] : head_local) {
    prune_heads(c, select_lowest(c, target_at(step, final, heads[i].initial, heads[i].sparsity) *
                                        heads[i].block.heads));
  }
  if (!head_pool.empty()) prune_heads(head_pool, select_lowest(head_pool, head_pool_target));
}

}  // namespace tamp::compression
