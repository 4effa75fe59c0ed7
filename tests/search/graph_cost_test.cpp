// MACs and parameter counts (nn/graph_cost.h) against values computed by hand from the
// layers' shapes.
#include <tamp/nn/graph_cost.h>

#include "search/search_test_support.h"

#include <gtest/gtest.h>

using namespace tamp;

namespace {

TEST(GraphCost, CnnMatchesHandCount) {
  const nn::Graph g = test::test_model("cnn");
  const nn::GraphCost c = nn::graph_cost(g);
  // 28x28 -> conv1 3x3 (no padding) 26x26 -> pool 13x13 -> conv2 3x3 11x11 -> pool 5x5 -> 1600.
  const int64_t conv1 = 32 * 26 * 26 * (1 * 3 * 3);   // 194,688
  const int64_t conv2 = 64 * 11 * 11 * (32 * 3 * 3);  // 2,230,272
  const int64_t fc1 = 128 * 1600, fc2 = 10 * 128;
  EXPECT_EQ(c.node_macs.size(), 4u);
  EXPECT_EQ(c.macs, conv1 + conv2 + fc1 + fc2);
  EXPECT_EQ(c.macs, 2631040);
  EXPECT_EQ(c.parameters, 288 + 32 + 18432 + 64 + 204800 + 128 + 1280 + 10);
}

TEST(GraphCost, TransformerCountsEveryProduct) {
  const nn::Graph g = test::test_model("transformer");
  const nn::GraphCost c = nn::graph_cost(g);
  // [64, 16] tokens: embedding 16->128; per layer Q, K, V and output projections (128x128),
  // Q.K^T and P.V over 4 heads of 32 (64x64 scores), feed-forward 128->512->128; head 128->10.
  const int64_t s = 64, d = 128, heads = 4, dh = 32, ff = 512;
  const int64_t layer = 4 * s * d * d + 2 * heads * s * s * dh + 2 * s * d * ff;
  EXPECT_EQ(c.macs, s * 16 * d + 2 * layer + d * 10);
}

TEST(GraphCost, OpFamiliesFromShapes) {
  auto node = [](std::string op, std::vector<std::string> in, Attributes a = {},
                 std::string domain = "") {
    return nn::Node{"n",           std::move(op), std::move(domain),
                    std::move(in), {"y"},         nn::attrs_with(std::move(a))};
  };
  std::map<std::string, Shape> shapes{
      {"x", {2, 8, 10, 10}}, {"w", {16, 4, 3, 3}}, {"y", {2, 16, 8, 8}}};
  // Grouped conv (group 2): each output sums 4 channels x 9 positions.
  EXPECT_EQ(nn::node_macs(node("Conv", {"x", "w"}, {{"group", int64_t{2}}}), shapes),
            2 * 16 * 8 * 8 * 4 * 9);
  // QLinearConv's weight is input 3.
  EXPECT_EQ(nn::node_macs(node("QLinearConv", {"x", "s", "z", "w"}), shapes),
            2 * 16 * 8 * 8 * 4 * 9);
  // ConvTranspose: input elements x (M / group) x kernel positions; weight [C, M, k, k].
  shapes = {{"x", {1, 3, 5, 5}}, {"w", {3, 6, 2, 2}}, {"y", {1, 6, 10, 10}}};
  EXPECT_EQ(nn::node_macs(node("ConvTranspose", {"x", "w"}), shapes), 3 * 5 * 5 * 6 * 4);
  // Gemm with A transposed: A [K, M] = [7, 5], B [7, 3].
  shapes = {{"a", {7, 5}}, {"b", {7, 3}}, {"y", {5, 3}}};
  EXPECT_EQ(nn::node_macs(node("Gemm", {"a", "b"}, {{"transA", int64_t{1}}}), shapes), 5 * 3 * 7);
  // Batched, broadcast MatMul: [2, 4, 6, 8] x [8, 5].
  shapes = {{"a", {2, 4, 6, 8}}, {"b", {8, 5}}, {"y", {2, 4, 6, 5}}};
  EXPECT_EQ(nn::node_macs(node("MatMul", {"a", "b"}), shapes), 2 * 4 * 6 * 5 * 8);
  // MatMulNBits: K from its attribute.
  shapes = {{"a", {3, 64}}, {"y", {3, 32}}};
  EXPECT_EQ(nn::node_macs(node("MatMulNBits", {"a", "b", "s"},
                               {{"K", int64_t{64}}, {"N", int64_t{32}}}, "com.microsoft"),
                          shapes),
            3 * 32 * 64);
  // Not a multiply-accumulate family.
  EXPECT_EQ(nn::node_macs(node("Relu", {"a"}), shapes), 0);
}

TEST(GraphCost, UnknownDimensionIsNamed) {
  nn::Graph g;
  g.inputs.push_back(
      {"x", DType::kFloat32, {nn::Dim::symbolic("batch"), nn::Dim::symbolic("seq")}});
  g.nodes.push_back({"r", "Relu", "", {"x"}, {"y"}});
  g.outputs.push_back({"y", DType::kFloat32, {}});
  try {
    nn::example_inputs(g);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'seq'"), std::string::npos) << e.what();
  }
}

}  // namespace
