// Choosing what to prune: a pattern's units (elements, blocks, rows, N:M candidates) ranked
// by score, lowest pruned first; masks are float (1 keep, 0 pruned) in the weight's view order,
// and a unit already pruned stays pruned.
//
//   auto units = unit_scores(scores, mask, Pattern::parse("4x1"), layout);
//   auto pruned = select_lowest(candidates(units, /*owner=*/0), 0.5 * layout.numel());
//   apply_units(units, pruned, mask);       // mask now has the 4x1 blocks of `pruned` at 0
#pragma once

#include <tamp/compression/pruning/pattern.h>

#include <vector>

namespace tamp::compression::pruning {

// The units of one weight under a pattern (unstructured, block or channel).
struct Units {
  Pattern pattern;
  WeightLayout layout;
  int64_t count = 0;          // number of units
  int64_t size = 1;           // elements per unit
  std::vector<double> score;  // mean element score per unit; -inf when already pruned
};

// requires: scores and mask in view order of `layout`; the pattern tiles the layout
//           (divisibility_problem is "") and is unstructured, a block or channel.
Units unit_scores(const std::vector<float>& scores, const std::vector<float>& mask,
                  const Pattern& pattern, const WeightLayout& layout);
// Sets the elements of every unit u with pruned[u] to 0 in `mask`.
void apply_units(const Units& units, const std::vector<char>& pruned, std::vector<float>& mask);

struct Candidate {
  double score;
  int64_t size;   // elements
  int32_t owner;  // which weight
  int64_t unit;   // index within the owner
};
std::vector<Candidate> candidates(const Units& units, int32_t owner);

// Marks the candidates to prune: every one scoring -inf, then the lowest scores while the
// pruned element count stays within half a unit of `target_elements` (so a target is met
// within one unit). Ties go to the lower (owner, unit). Result aligned with `c`.
std::vector<char> select_lowest(const std::vector<Candidate>& c, double target_elements);

// N:M: prunes, among each group's M-N lowest-scoring elements, the lowest ones of the whole
// weight until `sparsity` of its elements are pruned (at 1 - N/M every group keeps exactly
// its N highest). Groups run along the layout's input channels.
// requires: divisibility_problem(pattern, layout) == "", sparsity <= 1 - N/M.
void prune_n_of_m(const std::vector<float>& scores, const Pattern& pattern,
                  const WeightLayout& layout, double sparsity, std::vector<float>& mask);

}  // namespace tamp::compression::pruning
