// Residual blocks: an identity-shortcut block is found and can be dropped (the graph then
// computes what the block computes with its zero_params zeroed); a projection block is not.
#include <tamp/compression/search/residual.h>

#include "search/search_test_support.h"

#include <gtest/gtest.h>

using namespace tamp;
using namespace tamp::compression::search;

namespace {

// x [1,4,6,6] -> block A: y = relu(x + bn(conv(relu(bn(conv(x))))))    (identity shortcut)
//            -> block B: z = relu(bn(conv_s2(y)) + bn(conv1x1_s2(y)))  (projection shortcut)
nn::Graph residual_graph() {
  nn::Graph g;
  g.inputs.push_back({"x", DType::kFloat32, {nn::Dim::symbolic("batch"), nn::Dim::of(4), nn::Dim::of(6), nn::Dim::of(6)}});
  Generator rng(3);
  auto init = [&](const std::string& name, Shape shape, double offset = 0) {
    g.initializers[name] = test::random_tensor(shape, rng.next());
    if (offset != 0) {
      for (int64_t i = 0; i < g.initializers[name].numel(); ++i) {
        g.initializers[name].data<float>()[i] = static_cast<float>(offset + 0.1 * std::fabs(g.initializers[name].at(i)));
      }
    }
  };
  auto conv_bn = [&](const std::string& p, const std::string& in, const std::string& out, int64_t k, int64_t stride) {
    init(p + ".w", {4, 4, k, k});
    for (const char* s : {".scale", ".bias", ".mean"}) init(p + s, {4});
    init(p + ".var", {4}, 1.0);
    const int64_t pad = k / 2;
    g.nodes.push_back({p + "/Conv", "Conv", "", {in, p + ".w"}, {p + "_c"},
                       nn::attrs_with({{"pads", std::vector<int64_t>{pad, pad, pad, pad}},
                                       {"strides", std::vector<int64_t>{stride, stride}}})});
    g.nodes.push_back({p + "/BN", "BatchNormalization", "", {p + "_c", p + ".scale", p + ".bias", p + ".mean", p + ".var"},
                       {out}});
  };
  conv_bn("a1", "x", "a1_out", 3, 1);
  g.nodes.push_back({"a/Relu1", "Relu", "", {"a1_out"}, {"a1_relu"}});
  conv_bn("a2", "a1_relu", "a2_out", 3, 1);
  g.nodes.push_back({"a/Add", "Add", "", {"x", "a2_out"}, {"a_sum"}});
  g.nodes.push_back({"a/Relu2", "Relu", "", {"a_sum"}, {"y"}});
  conv_bn("b1", "y", "b1_out", 3, 2);
  conv_bn("bd", "y", "bd_out", 1, 2);
  g.nodes.push_back({"b/Add", "Add", "", {"b1_out", "bd_out"}, {"b_sum"}});
  g.nodes.push_back({"b/Relu", "Relu", "", {"b_sum"}, {"z"}});
  g.outputs.push_back({"z", DType::kFloat32, {}});
  g.validate();
  return g;
}

TEST(ResidualBlocks, IdentityShortcutIsDroppable) {
  const nn::Graph g = residual_graph();
  const auto blocks = find_residual_blocks(g);
  ASSERT_EQ(blocks.size(), 1u);
  const ResidualBlock& b = blocks[0];
  EXPECT_EQ(b.add, "a/Add");
  EXPECT_EQ(b.skip, "x");
  EXPECT_EQ(b.branch, "a2_out");
  EXPECT_EQ(b.branch_nodes.size(), 5u);   // conv, BN, Relu, conv, BN
  EXPECT_EQ(b.zero_params, (std::vector<std::string>{"a2.scale", "a2.bias"}));

  const nn::Graph dropped = drop_residual_blocks(g, {"a/Add"});
  EXPECT_EQ(dropped.nodes.size(), g.nodes.size() - 6);
  EXPECT_FALSE(dropped.initializers.count("a1.w"));
  // The same function as the block with its last BatchNormalization's scale and shift zero.
  nn::Graph zeroed = g;
  for (const auto& p : b.zero_params) zeroed.initializers[p] = Tensor::zeros({4});
  const Tensor x = test::random_tensor({2, 4, 6, 6}, 5);
  EXPECT_LE(test::max_abs_diff(test::run_tamp(dropped, x), test::run_tamp(zeroed, x)), 1e-6);
  EXPECT_GT(test::max_abs_diff(test::run_tamp(g, x), test::run_tamp(zeroed, x)), 1e-3);  // the block mattered
  EXPECT_THROW(drop_residual_blocks(g, {"b/Add"}), Error);
}

TEST(ResidualBlocks, DroppedBlockAtTheOutputLeavesAnIdentity) {
  nn::Graph g = residual_graph();
  // Make block A's sum the graph output.
  g.nodes.resize(6);   // block A alone: conv, BN, Relu, conv, BN, Add
  g.outputs = {{"a_sum", DType::kFloat32, {}}};
  std::set<std::string> read;
  for (const auto& n : g.nodes) read.insert(n.inputs.begin(), n.inputs.end());
  for (auto it = g.initializers.begin(); it != g.initializers.end();) it = read.count(it->first) ? std::next(it) : g.initializers.erase(it);
  g.validate();
  const nn::Graph dropped = drop_residual_blocks(g, {"a/Add"});
  ASSERT_EQ(dropped.nodes.size(), 1u);
  EXPECT_EQ(dropped.nodes[0].op_type, "Identity");
  const Tensor x = test::random_tensor({1, 4, 6, 6}, 6);
  EXPECT_EQ(test::max_abs_diff(test::run_tamp(dropped, x), x), 0);
}

}  // namespace
