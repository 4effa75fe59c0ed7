#include <tamp/compression/pruning/selection.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace tamp::compression::pruning {

namespace {

constexpr double kPruned = -std::numeric_limits<double>::infinity();

// Calls f(view index) for every element of unit u.
template <class F> void for_each_element(const Units& units, int64_t u, F&& f) {
  const WeightLayout& l = units.layout;
  switch (units.pattern.kind) {
    case PatternKind::kChannel:
      for (int64_t c = 0; c < l.reduction; ++c) f(u * l.reduction + c);
      return;
    case PatternKind::kBlock: {
      const int64_t br = units.pattern.block_rows, bc = units.pattern.block_cols;
      const int64_t per_row = l.reduction / bc;
      const int64_t r0 = (u / per_row) * br, c0 = (u % per_row) * bc;
      for (int64_t r = r0; r < r0 + br; ++r) {
        for (int64_t c = c0; c < c0 + bc; ++c) f(r * l.reduction + c);
      }
      return;
    }
    default:
      f(u);
  }
}

}  // namespace

Units unit_scores(const std::vector<float>& scores, const std::vector<float>& mask,
                  const Pattern& pattern, const WeightLayout& layout) {
  TAMP_CHECK(pattern.kind == PatternKind::kUnstructured || pattern.kind == PatternKind::kBlock ||
                 pattern.kind == PatternKind::kChannel,
             "unit_scores: pattern {} has no per-weight units", pattern.str());
  const std::string problem = divisibility_problem(pattern, layout);
  TAMP_CHECK(problem.empty(), "weight {}: {}", to_string(layout.shape), problem);
  TAMP_CHECK(static_cast<int64_t>(scores.size()) == layout.numel() && scores.size() == mask.size(),
             "unit_scores: {} scores and {} mask values for a weight of {} elements", scores.size(),
             mask.size(), layout.numel());
  Units u{pattern, layout, 0, 1, {}};
  switch (pattern.kind) {
    case PatternKind::kChannel:
      u.count = layout.out;
      u.size = layout.reduction;
      break;
    case PatternKind::kBlock:
      u.size = pattern.block_rows * pattern.block_cols;
      u.count = layout.numel() / std::max<int64_t>(u.size, 1);
      break;
    default:
      u.count = layout.numel();
  }
  u.score.assign(static_cast<size_t>(u.count), 0.0);
  for (int64_t i = 0; i < u.count; ++i) {
    double sum = 0;
    bool kept = false;
    for_each_element(u, i, [&](int64_t e) {
      sum += scores[e];
      kept = kept || mask[e] != 0;
    });
    u.score[i] = kept ? sum / static_cast<double>(u.size) : kPruned;
  }
  return u;
}

void apply_units(const Units& units, const std::vector<char>& pruned, std::vector<float>& mask) {
  TAMP_CHECK(static_cast<int64_t>(pruned.size()) == units.count,
             "apply_units: {} flags for {} units", pruned.size(), units.count);
  for (int64_t i = 0; i < units.count; ++i) {
    if (pruned[i]) for_each_element(units, i, [&](int64_t e) { mask[e] = 0.0f; });
  }
}

std::vector<Candidate> candidates(const Units& units, int32_t owner) {
  std::vector<Candidate> c(static_cast<size_t>(units.count));
  for (int64_t i = 0; i < units.count; ++i) c[i] = {units.score[i], units.size, owner, i};
  return c;
}

std::vector<char> select_lowest(const std::vector<Candidate>& c, double target_elements) {
  std::vector<char> chosen(c.size(), 0);
  if (c.empty()) return chosen;
  std::vector<size_t> order(c.size());
  std::iota(order.begin(), order.end(), size_t{0});
  auto less = [&](size_t a, size_t b) {
    if (c[a].score != c[b].score) return c[a].score < c[b].score;
    if (c[a].owner != c[b].owner) return c[a].owner < c[b].owner;
    return c[a].unit < c[b].unit;
  };
  const bool same_size =
      std::all_of(c.begin(), c.end(), [&](const Candidate& x) { return x.size == c[0].size; });
  size_t limit = c.size();
  if (same_size) {
    // Only the k lowest matter: a partial selection instead of a full sort.
    const auto prunedcount = static_cast<size_t>(
        std::count_if(c.begin(), c.end(), [](const Candidate& x) { return x.score == kPruned; }));
    const double k = std::floor(target_elements / static_cast<double>(c[0].size) + 0.5);
    limit = std::min(c.size(), std::max(prunedcount, static_cast<size_t>(std::max(0.0, k))));
    if (limit == 0) return chosen;
    std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(limit - 1),
                     order.end(), less);
    std::sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(limit), less);
  } else {
    std::sort(order.begin(), order.end(), less);
  }
  double pruned = 0;
  for (size_t i = 0; i < limit; ++i) {
    const Candidate& x = c[order[i]];
    const auto size = static_cast<double>(x.size);
    if (x.score != kPruned && pruned + size / 2 > target_elements) break;
    chosen[order[i]] = 1;
    pruned += size;
  }
  return chosen;
}

void prune_n_of_m(const std::vector<float>& scores, const Pattern& pattern,
                  const WeightLayout& layout, double sparsity, std::vector<float>& mask) {
  TAMP_CHECK(pattern.kind == PatternKind::kNofM, "prune_n_of_m: pattern {} is not N:M",
             pattern.str());
  const std::string problem = divisibility_problem(pattern, layout);
  TAMP_CHECK(problem.empty(), "weight {}: {}", to_string(layout.shape), problem);
  TAMP_CHECK(sparsity >= 0 && sparsity <= pattern.max_sparsity() + 1e-12,
             "{} allows a sparsity of at most {}, not {}", pattern.str(), pattern.max_sparsity(),
             sparsity);
  const int64_t m = pattern.m, drop = pattern.m - pattern.n;
  std::vector<Candidate> c;
  c.reserve(static_cast<size_t>(layout.numel() / m * drop));
  std::vector<int64_t> idx(static_cast<size_t>(m));
  for (int64_t g0 = 0; g0 < layout.numel(); g0 += m) {
    // A group: m consecutive view columns of one row (C % m == 0 keeps it on one kernel position).
    std::iota(idx.begin(), idx.end(), g0);
    auto score_of = [&](int64_t e) {
      return mask[e] == 0 ? kPruned : static_cast<double>(scores[e]);
    };
    std::stable_sort(idx.begin(), idx.end(),
                     [&](int64_t a, int64_t b) { return score_of(a) < score_of(b); });
    int64_t taken = 0;
    for (int64_t e : idx) {
      const double s = score_of(e);
      if (taken >= drop && s != kPruned) break;
      c.push_back({s, 1, 0, e});
      ++taken;
    }
  }
  const auto chosen = select_lowest(c, sparsity * static_cast<double>(layout.numel()));
  for (size_t i = 0; i < c.size(); ++i)
    if (chosen[i]) mask[c[i].unit] = 0.0f;
}

}  // namespace tamp::compression::pruning
