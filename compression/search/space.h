// The search space of an architecture search over an imported graph: per-layer widths, heads
// per block and residual blocks kept or dropped, each realised by structured pruning; masked
// and extracted sub-networks compute the same function. Dimensions and importance order:
// docs/search.md#search-space-compressionsearchspaceh
//
//   SearchSpace space = SearchSpace::of(graph, {.width_ratios = {0.25, 0.5, 0.75, 1}});
//   Genome g = space.uniform(0.5);                 // every layer at half its channels
//   nn::Graph small = space.extract(graph, g);     // the sub-network, channels removed
#pragma once

#include <tamp/compression/pruning/heads.h>
#include <tamp/compression/pruning/targets.h>
#include <tamp/compression/search/residual.h>

#include <map>
#include <string>
#include <vector>

namespace tamp::compression::search {

struct SpaceOptions {
  std::vector<double> width_ratios = {0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0};  // in (0, 1]
  int64_t channel_multiple = 1;
  bool widths = true;
  bool heads = true;
  bool depth = true;
  std::vector<std::string> exclude = {};  // regexes over weight, attention block and Add names
};

enum class DimensionKind { kWidth, kHeads, kDepth };
std::string dimension_kind_name(DimensionKind k);  // "width", "heads", "depth"

struct Dimension {
  DimensionKind kind = DimensionKind::kWidth;
  std::string name;              // the weight (width), Softmax node (heads), Add node (depth)
  int64_t full = 0;              // channels, heads, or 1 (depth)
  std::vector<int64_t> choices;  // ascending, the last = full
  std::vector<int64_t> order;    // units by importance, most important first (width, heads)
};

// One index into choices per dimension.
using Genome = std::vector<int>;

class SearchSpace {
 public:
  // Throws (kInvalidInput) when the graph has no dimension to search, with the reasons.
  static SearchSpace of(const nn::Graph& graph, const SpaceOptions& options = {});

  const std::vector<Dimension>& dimensions() const { return dims_; }
  Genome largest() const;
  Genome smallest() const;
  // Widths and heads at the choice nearest `ratio` of their full size; blocks kept.
  Genome uniform(double ratio) const;
  // Throws when a gene is outside its choices or the length is wrong.
  void check(const Genome& g) const;
  // The chosen value per dimension.
  std::vector<int64_t> values(const Genome& g) const;
  // "conv1.weight 16/32, /attn/Softmax 2/4 heads, /layer1.1/Add dropped" (full ones left out;
  // "full" when all are).
  std::string describe(const Genome& g) const;

  // 1 keep / 0 remove, by parameter name, of the parameters' shapes in `graph` (float32):
  // the rows (and bias, BatchNormalization scale and shift entries) of removed channels, the
  // slices of removed heads, the zero_params of dropped blocks. Parameters no choice touches
  // are absent.
  std::map<std::string, Tensor> masks(const Genome& g, const nn::Graph& graph) const;
  // The sub-network: `graph` with the masks applied (to copies of its initializers), dropped
  // blocks removed and the removed channels and heads cut out (pruning/shrink.h).
  nn::Graph extract(const nn::Graph& graph, const Genome& g) const;

 private:
  struct WidthSource {
    std::string weight;
    int out_axis = 0;                    // rows of the stored weight
    std::vector<std::string> followers;  // bias and BatchNormalization scale and shift
  };
  std::vector<Dimension> dims_;
  std::vector<WidthSource> widths_;                    // per width dimension
  std::vector<pruning::AttentionBlock> blocks_;        // per heads dimension
  std::vector<std::vector<std::string>> zero_params_;  // per depth dimension
};

}  // namespace tamp::compression::search
