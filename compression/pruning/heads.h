// Attention heads in an imported graph, for the "head" pruning pattern: multi-head attention
// written out with separate Q/K/V MatMul projections, as PyTorch exports it.
// The graph recognised and what a head owns: docs/pruning.md#attention-heads
//
//   for (const AttentionBlock& b : find_attention_blocks(graph)) ... b.heads, b.head_dim
#pragma once

#include <tamp/autograd/shape.h>
#include <tamp/nn/graph.h>

#include <string>
#include <vector>

namespace tamp::compression::pruning {

struct AttentionBlock {
  std::string name;  // the Softmax node
  std::string q_weight, k_weight, v_weight, o_weight;
  std::string q_bias, k_bias, v_bias;  // "" when absent
  int64_t heads = 0, head_dim = 0;
  std::vector<int> split_reshapes;  // the Q, K, V Reshape nodes
  int merge_reshape = -1;           // the Reshape back to [*, S, H*Dh]
};

std::vector<AttentionBlock> find_attention_blocks(const nn::Graph& graph);

// The parameters a head touches, each with the axis and the [begin, end) index range along
// it that the head owns.
struct HeadSlice {
  std::string param;
  int axis;
  int64_t begin, end;
};
std::vector<HeadSlice> head_slices(const AttentionBlock& block, int64_t head);

// Calls f(flat index) for the elements of a tensor of `shape` whose index along `axis` (-1:
// the last) is in [begin, end): a head's slice, a layer's output channel.
template <class F> void for_slice(const Shape& shape, int axis, int64_t begin, int64_t end, F&& f) {
  const int rank = static_cast<int>(shape.size());
  if (axis < 0) axis += rank;
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= shape[d];
  for (int d = axis + 1; d < rank; ++d) inner *= shape[d];
  const int64_t dim = shape[axis];
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = begin; j < end; ++j) {
      for (int64_t i = 0; i < inner; ++i) f((o * dim + j) * inner + i);
    }
  }
}

}  // namespace tamp::compression::pruning
