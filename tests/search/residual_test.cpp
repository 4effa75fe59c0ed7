// Residual blocks: an identity-shortcut block is found and can be dropped (the graph then
// computes what the block computes with its zero_params zeroed); a projection block is not.
#include <tamp/compression/search/residual.h>

#include "search/search_test_support.h"

#include <gtest/gtest.h>

using namespace tamp;
using namespace tamp::compression::search;

namespace {

TEST(ResidualBlocks, IdentityShortcutIsDroppable) {
  const nn::Graph g = test::residual_graph();
  const auto blocks = find_residual_blocks(g);
  ASSERT_EQ(blocks.size(), 1u);
  const ResidualBlock& b = blocks[0];
  EXPECT_EQ(b.add, "a/Add");
  EXPECT_EQ(b.skip, "x");
  EXPECT_EQ(b.branch, "a2_out");
  EXPECT_EQ(b.branch_nodes.size(), 5u);  // conv, BN, Relu, conv, BN
  EXPECT_EQ(b.zero_params, (std::vector<std::string>{"a2.scale", "a2.bias"}));

  const nn::Graph dropped = drop_residual_blocks(g, {"a/Add"});
  EXPECT_EQ(dropped.nodes.size(), g.nodes.size() - 6);
  EXPECT_FALSE(dropped.initializers.count("a1.w"));
  // The same function as the block with its last BatchNormalization's scale and shift zero.
  nn::Graph zeroed = g;
  for (const auto& p : b.zero_params) zeroed.initializers[p] = Tensor::zeros({4});
  const Tensor x = test::random_tensor({2, 4, 6, 6}, 5);
  EXPECT_LE(test::max_abs_diff(test::run_tamp(dropped, x), test::run_tamp(zeroed, x)), 1e-6);
  EXPECT_GT(test::max_abs_diff(test::run_tamp(g, x), test::run_tamp(zeroed, x)),
            1e-3);  // the block mattered
  EXPECT_THROW(drop_residual_blocks(g, {"b/Add"}), Error);
}

TEST(ResidualBlocks, DroppedBlockAtTheOutputLeavesAnIdentity) {
  nn::Graph g = test::residual_graph();
  // Make block A's sum the graph output.
  g.nodes.resize(6);  // block A alone: conv, BN, Relu, conv, BN, Add
  g.outputs = {{"a_sum", DType::kFloat32, {}}};
  std::set<std::string> read;
  for (const auto& n : g.nodes) read.insert(n.inputs.begin(), n.inputs.end());
  for (auto it = g.initializers.begin(); it != g.initializers.end();)
    it = read.count(it->first) ? std::next(it) : g.initializers.erase(it);
  g.validate();
  const nn::Graph dropped = drop_residual_blocks(g, {"a/Add"});
  ASSERT_EQ(dropped.nodes.size(), 1u);
  EXPECT_EQ(dropped.nodes[0].op_type, "Identity");
  const Tensor x = test::random_tensor({1, 4, 6, 6}, 6);
  EXPECT_EQ(test::max_abs_diff(test::run_tamp(dropped, x), x), 0);
}

}  // namespace
