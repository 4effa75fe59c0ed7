// Sparsity patterns (unstructured, RxC blocks, N:M, channel, head), and the 2-D view
// [out, reduction] of a weight they are defined on: docs/pruning.md#patterns---pattern
//
//   Pattern p = Pattern::parse("2:4");      // at most 2 non-zeros in every 4 reduction elements
//   WeightLayout l = WeightLayout::of("Conv", {64, 32, 3, 3});
//   std::string why = divisibility_problem(p, l);   // "" : the pattern tiles the weight
//   std::vector<float> v = to_view(w, l);           // [out, reduction] order
#pragma once

#include <tamp/autograd/tensor.h>

#include <string>
#include <vector>

namespace tamp::compression::pruning {

enum class PatternKind { kUnstructured, kBlock, kNofM, kChannel, kHead };

struct Pattern {
  PatternKind kind = PatternKind::kUnstructured;
  int64_t block_rows = 1, block_cols = 1;  // kBlock
  int64_t n = 0, m = 0;                    // kNofM

  // Throws (kInvalidInput) on anything else than the forms above, with 0 < N < M <= 64 and
  // block sides in [1, 4096].
  static Pattern parse(const std::string& text);
  std::string str() const;
  // The highest sparsity the pattern allows: 1 - N/M for N:M, 1 (exclusive) otherwise.
  double max_sparsity() const;
  bool operator==(const Pattern&) const = default;
};

struct WeightLayout {
  enum class Kind { kRows, kColumns, kConv };
  Kind kind = Kind::kRows;
  Shape shape;              // the weight as stored
  int64_t out = 0;          // view rows
  int64_t reduction = 0;    // view columns
  int64_t in_channels = 0;  // Conv: C (columns run along C first); else = reduction
  int64_t positions = 1;    // Conv: kernel positions k1*k2*...; else 1

  // op_type "Conv" (rank >= 3), "Gemm" (rank 2; transposed = !transB), "MatMul" (rank 2,
  // the weight as the second operand: always transposed). Throws for anything else.
  static WeightLayout of(const std::string& op_type, const Shape& shape, bool transposed = false);
  int64_t flat_index(int64_t row, int64_t col) const;
  int64_t numel() const { return out * reduction; }
};

// The weight's elements as float in view order (row-major [out, reduction]); any float dtype.
std::vector<float> to_view(const Tensor& w, const WeightLayout& layout);
// Writes `view` back into a tensor of the layout's shape and `dtype`.
Tensor from_view(const std::vector<float>& view, const WeightLayout& layout,
                 DType dtype = DType::kFloat32);

// Why `pattern` cannot tile `layout` ("" when it can): blocks and N:M groups must divide the
// view, and must not straddle two kernel positions of a Conv (so C, not C*k*k, must divide).
std::string divisibility_problem(const Pattern& pattern, const WeightLayout& layout);

}  // namespace tamp::compression::pruning
