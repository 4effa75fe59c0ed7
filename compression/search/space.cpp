#include <tamp/compression/pruning/mask_set.h>
#include <tamp/compression/pruning/shrink.h>
#include <tamp/compression/search/space.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <regex>
#include <set>

namespace tamp::compression::search {

namespace {

std::vector<int64_t> choices_for(int64_t full, const SpaceOptions& o, int64_t multiple) {
  std::set<int64_t> c{full};
  for (double r : o.width_ratios) {
    auto v = static_cast<int64_t>(std::ceil(r * static_cast<double>(full) - 1e-9));
    v = (v + multiple - 1) / multiple * multiple;
    c.insert(std::clamp<int64_t>(v, 1, full));
  }
  return {c.begin(), c.end()};
}

// Unit indices by descending score; ties keep the lower index first.
std::vector<int64_t> by_importance(const std::vector<double>& score) {
  std::vector<int64_t> order(score.size());
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return score[a] > score[b]; });
  return order;
}

double abs_sum(const Tensor& t, const Shape& shape, int axis, int64_t begin, int64_t end) {
  double s = 0;
  pruning::for_slice(shape, axis, begin, end, [&](int64_t i) { s += std::fabs(t.at(i)); });
  return s;
}

Tensor& mask_of(std::map<std::string, Tensor>& masks, const nn::Graph& g,
                const std::string& param) {
  auto it = masks.find(param);
  if (it == masks.end())
    it = masks.emplace(param, Tensor::ones(g.initializers.at(param).shape())).first;
  return it->second;
}

void zero_slice(Tensor& m, int axis, int64_t begin, int64_t end) {
  float* p = m.data<float>();
  pruning::for_slice(m.shape(), axis, begin, end, [&](int64_t i) { p[i] = 0; });
}

// The --exclude patterns (regular expressions over weight, block and node names).
class Exclusions {
 public:
  explicit Exclusions(const std::vector<std::string>& patterns) {
    for (const auto& e : patterns) {
      try {
        res_.emplace_back(e);
      } catch (const std::regex_error& err) {
        throw Error(
            fmt::format("search exclude '{}' is not a valid regular expression: {}", e, err.what()),
            ErrorKind::kInvalidInput);
      }
    }
  }
  bool operator()(const std::string& name) const {
    return std::any_of(res_.begin(), res_.end(),
                       [&](const std::regex& re) { return std::regex_match(name, re); });
  }

 private:
  std::vector<std::regex> res_;
};

// Why the output channels of `w` cannot be searched ("" when they can); `uses`: the layers
// reading its weight.
std::string width_problem(const nn::Graph& g, const pruning::PrunableWeight& w, int uses) {
  std::string problem = w.channel_problem;
  if (problem.empty() && !w.weight_is_initializer)
    problem = "the weight is read through a quantizer";
  if (problem.empty() && uses > 1) problem = "the weight is shared by several layers";
  if (problem.empty() && !w.depthwise.empty()) problem = "its channels go through a depthwise Conv";
  if (problem.empty() && w.layout.out < 2) problem = "it has one output channel";
  for (int bn : w.batch_norms) {
    for (size_t k = 1; k < 5 && k < g.nodes[bn].inputs.size() && problem.empty(); ++k) {
      if (!g.initializers.count(g.nodes[bn].inputs[k]))
        problem = "a BatchNormalization input is not an initializer";
    }
  }
  return problem;
}

// The parameters indexed by the output channels of `w`: bias, BatchNormalization scale and shift.
std::vector<std::string> width_followers(const nn::Graph& g, const pruning::PrunableWeight& w) {
  std::vector<std::string> followers;
  if (!w.bias.empty()) followers.push_back(w.bias);
  for (int bn : w.batch_norms) {
    followers.push_back(g.nodes[bn].inputs[1]);
    followers.push_back(g.nodes[bn].inputs[2]);
  }
  return followers;
}

// A channel's importance: |BatchNorm scale| after the layer, else the L1 norm of its weights.
std::vector<double> channel_scores(const nn::Graph& g, const pruning::PrunableWeight& w,
                                   int out_axis) {
  std::vector<double> score(static_cast<size_t>(w.layout.out));
  const Tensor& wt = g.initializers.at(w.weight);
  for (int64_t c = 0; c < w.layout.out; ++c) {
    score[c] = w.batch_norms.empty()
                   ? abs_sum(wt, wt.shape(), out_axis, c, c + 1)
                   : std::fabs(g.initializers.at(g.nodes[w.batch_norms[0]].inputs[1]).at(c));
  }
  return score;
}

// A head's importance: the L1 norm of its V columns and output-projection rows.
std::vector<double> head_scores(const nn::Graph& g, const pruning::AttentionBlock& b) {
  std::vector<double> score(static_cast<size_t>(b.heads));
  for (int64_t h = 0; h < b.heads; ++h) {
    const auto lo = h * b.head_dim, hi = lo + b.head_dim;
    const Tensor& v = g.initializers.at(b.v_weight);
    const Tensor& wo = g.initializers.at(b.o_weight);
    score[h] = abs_sum(v, v.shape(), 1, lo, hi) + abs_sum(wo, wo.shape(), 0, lo, hi);
  }
  return score;
}

}  // namespace

std::string dimension_kind_name(DimensionKind k) {
  switch (k) {
    case DimensionKind::kWidth:
      return "width";
    case DimensionKind::kHeads:
      return "heads";
    case DimensionKind::kDepth:
      return "depth";
  }
  return "?";
}

SearchSpace SearchSpace::of(const nn::Graph& g, const SpaceOptions& o) {
  for (double r : o.width_ratios) {
    if (!(r > 0 && r <= 1)) {
      throw Error(fmt::format("width ratio {} is outside (0, 1]", r), ErrorKind::kInvalidInput);
    }
  }
  TAMP_CHECK(o.channel_multiple >= 1, "channel multiple {} is below 1", o.channel_multiple);
  const Exclusions excluded(o.exclude);
  SearchSpace s;
  std::vector<std::string> why_not;
  if (o.widths) {
    const auto weights = pruning::find_prunable_weights(g);
    std::map<std::string, int> uses;
    for (const auto& w : weights) ++uses[w.weight];
    for (const auto& w : weights) {
      std::string problem = width_problem(g, w, uses[w.weight]);
      if (problem.empty() && excluded(w.weight)) problem = "excluded";
      if (!problem.empty()) {
        why_not.push_back(fmt::format("{}: {}", w.weight, problem));
        continue;
      }
      WidthSource src{w.weight, w.layout.kind == pruning::WeightLayout::Kind::kColumns ? 1 : 0,
                      width_followers(g, w)};
      s.dims_.push_back({DimensionKind::kWidth, w.weight, w.layout.out,
                         choices_for(w.layout.out, o, o.channel_multiple),
                         by_importance(channel_scores(g, w, src.out_axis))});
      s.widths_.push_back(std::move(src));
    }
  }
  if (o.heads) {
    for (const auto& b : pruning::find_attention_blocks(g)) {
      bool direct = true;
      for (const auto& p : {b.q_weight, b.k_weight, b.v_weight, b.o_weight}) {
        const auto readers = g.consumers(p);
        direct = direct && g.initializers.count(p) && !readers.empty() &&
                 std::all_of(readers.begin(), readers.end(),
                             [&](int r) { return g.nodes[r].op_type == "MatMul"; });
      }
      if (!direct || excluded(b.name) || b.heads < 2) {
        why_not.push_back(fmt::format("attention '{}': {}", b.name,
                                      !direct       ? "weights read through quantizers"
                                      : b.heads < 2 ? "one head"
                                                    : "excluded"));
        continue;
      }
      s.dims_.push_back({DimensionKind::kHeads, b.name, b.heads, choices_for(b.heads, o, 1),
                         by_importance(head_scores(g, b))});
      s.blocks_.push_back(b);
    }
  }
  if (o.depth) {
    for (const auto& b : find_residual_blocks(g)) {
      if (b.zero_params.empty() || excluded(b.add)) {
        why_not.push_back(fmt::format("residual block '{}': {}", b.add,
                                      b.zero_params.empty()
                                          ? "its branch does not end in a layer that can be zeroed"
                                          : "excluded"));
        continue;
      }
      s.dims_.push_back({DimensionKind::kDepth, b.add, 1, {0, 1}, {}});
      s.zero_params_.push_back(b.zero_params);
    }
  }
  if (s.dims_.empty()) {
    std::string reasons;
    for (const auto& w : why_not) reasons += "\n  " + w;
    throw Error(
        fmt::format(
            "the graph has nothing to search (no removable channels, heads or residual blocks){}",
            reasons),
        ErrorKind::kInvalidInput,
        "compression/pruning/targets.h says which layers' channels can be removed");
  }
  return s;
}

Genome SearchSpace::largest() const {
  Genome g;
  for (const auto& d : dims_) g.push_back(static_cast<int>(d.choices.size()) - 1);
  return g;
}

Genome SearchSpace::smallest() const { return Genome(dims_.size(), 0); }

Genome SearchSpace::uniform(double ratio) const {
  Genome g;
  for (const auto& d : dims_) {
    if (d.kind == DimensionKind::kDepth) {
      g.push_back(1);
      continue;
    }
    const double want = ratio * static_cast<double>(d.full);
    int best = 0;
    for (size_t i = 0; i < d.choices.size(); ++i) {
      if (std::fabs(static_cast<double>(d.choices[i]) - want) <
          std::fabs(static_cast<double>(d.choices[best]) - want)) {
        best = static_cast<int>(i);
      }
    }
    g.push_back(best);
  }
  return g;
}

void SearchSpace::check(const Genome& g) const {
  TAMP_CHECK(g.size() == dims_.size(), "a genome of {} genes for a space of {} dimensions",
             g.size(), dims_.size());
  for (size_t i = 0; i < g.size(); ++i) {
    TAMP_CHECK(g[i] >= 0 && g[i] < static_cast<int>(dims_[i].choices.size()),
               "gene {} = {} is outside the {} choices of '{}'", i, g[i], dims_[i].choices.size(),
               dims_[i].name);
  }
}

std::vector<int64_t> SearchSpace::values(const Genome& g) const {
  check(g);
  std::vector<int64_t> v;
  for (size_t i = 0; i < g.size(); ++i) v.push_back(dims_[i].choices[static_cast<size_t>(g[i])]);
  return v;
}

std::string SearchSpace::describe(const Genome& g) const {
  const auto v = values(g);
  std::string out;
  for (size_t i = 0; i < dims_.size(); ++i) {
    const Dimension& d = dims_[i];
    if (v[i] == d.full) continue;
    out += out.empty() ? "" : ", ";
    if (d.kind == DimensionKind::kDepth)
      out += d.name + " dropped";
    else
      out += fmt::format("{} {}/{}{}", d.name, v[i], d.full,
                         d.kind == DimensionKind::kHeads ? " heads" : "");
  }
  return out.empty() ? "full" : out;
}

std::map<std::string, Tensor> SearchSpace::masks(const Genome& g, const nn::Graph& graph) const {
  const auto v = values(g);
  std::map<std::string, Tensor> out;
  size_t wi = 0, hi = 0, di = 0;
  for (size_t i = 0; i < dims_.size(); ++i) {
    const Dimension& d = dims_[i];
    if (d.kind == DimensionKind::kWidth) {
      const WidthSource& src = widths_[wi++];
      for (size_t r = static_cast<size_t>(v[i]); r < d.order.size(); ++r) {
        const int64_t c = d.order[r];
        zero_slice(mask_of(out, graph, src.weight), src.out_axis, c, c + 1);
        for (const auto& f : src.followers) zero_slice(mask_of(out, graph, f), 0, c, c + 1);
      }
    } else if (d.kind == DimensionKind::kHeads) {
      const pruning::AttentionBlock& b = blocks_[hi++];
      for (size_t r = static_cast<size_t>(v[i]); r < d.order.size(); ++r) {
        for (const auto& sl : pruning::head_slices(b, d.order[r])) {
          zero_slice(mask_of(out, graph, sl.param), sl.axis, sl.begin, sl.end);
        }
      }
    } else {
      const auto& params = zero_params_[di++];
      if (v[i] == 0) {
        for (const auto& p : params) {
          Tensor& m = mask_of(out, graph, p);
          std::fill(m.data<float>(), m.data<float>() + m.numel(), 0.0f);
        }
      }
    }
  }
  return out;
}

nn::Graph SearchSpace::extract(const nn::Graph& graph, const Genome& g) const {
  nn::Graph out = graph;
  for (const auto& [name, m] : masks(g, graph)) {
    Tensor t = out.initializers.at(name).clone();
    pruning::multiply_in_place(t, m.to(t.dtype()));
    out.initializers[name] = t;
  }
  std::vector<std::string> dropped;
  const auto v = values(g);
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (dims_[i].kind == DimensionKind::kDepth && v[i] == 0) dropped.push_back(dims_[i].name);
  }
  return pruning::shrink_pruned(drop_residual_blocks(out, dropped));
}

}  // namespace tamp::compression::search
