// Checks that weights satisfy a sparsity pattern, and names the structure of a weight's zeros
// for `tamp inspect`. What "valid" means per pattern: docs/pruning.md (checker.h)
//
//   PatternCheck c = check_pattern(w, WeightLayout::of("Conv", w.shape()), Pattern::parse("2:4"));
//   c.valid;      // every group of 4 along the input channels has at most 2 non-zeros
//   c.detail;     // "2:4 valid" or "17 of 4608 groups have more than 2 non-zeros"
//   for (const WeightSparsity& s : sparsity_report(graph)) ... // s.weight, s.summary
#pragma once

#include <tamp/compression/pruning/pattern.h>
#include <tamp/nn/graph.h>

#include <string>
#include <vector>

namespace tamp::compression::pruning {

struct PatternCheck {
  bool valid = false;
  double sparsity = 0;     // zeros / elements of the weight
  int64_t units = 0;       // groups (N:M), blocks, rows (channel) or elements
  int64_t zero_units = 0;  // all-zero blocks / rows / elements (N:M: groups with <= N non-zeros)
  int64_t violations = 0;  // groups over N non-zeros, partly zero blocks or rows
  std::string detail;
};

PatternCheck check_pattern(const Tensor& weight, const WeightLayout& layout,
                           const Pattern& pattern);

struct WeightSparsity {
  std::string weight, node, op_type;
  Shape shape;
  double sparsity = 0;
  std::string structure;  // "dense", "2:4", "4x1", "channel", "unstructured"
  std::string summary;    // "50.0 % 2:4 valid", "dense", ...
};

// A Conv / Gemm / MatMul weight as the node computes with it: a float initializer (found as
// pruning/targets.h finds them, through FakeQuantize), or an integer initializer read through
// a DequantizeLinear with initializer scale and zero point (a QDQ export), dequantized — so
// the zeros pruning left show in an int8 model too (a stored value equal to its zero point).
struct ComputedWeight {
  std::string weight;  // the initializer
  std::string node, op_type;
  WeightLayout layout;
  Tensor values;  // float32 (float64 when stored so)
};
std::vector<ComputedWeight> computed_weights(const nn::Graph& graph);

// The computed weights of Conv / Gemm / MatMul nodes, with the strongest structure
// their zeros follow, tried in this order: N:M among 1:8, 1:4, 2:8, 1:2, 2:4, 4:8 (sparsest
// first, then the finer group); whole channels (at least one all-zero row); blocks among 8x1,
// 1x8, 4x1, 1x4, 2x2, 2x1, 1x2 (largest first, at least one all-zero block); else unstructured.
std::vector<WeightSparsity> sparsity_report(const nn::Graph& graph);
// The same for one weight.
WeightSparsity describe_sparsity(const Tensor& weight, const WeightLayout& layout);

}  // namespace tamp::compression::pruning
