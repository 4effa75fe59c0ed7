// The search space: its dimensions on the test models, and that every sub-network is a valid,
// smaller graph that ONNX Runtime runs and that computes what the masked super-network
// computes (in float).
#include <tamp/compression/pruning/mask_set.h>
#include <tamp/compression/search/space.h>
#include <tamp/io/onnx_export.h>
#include <tamp/nn/graph_cost.h>

#include "search/search_test_support.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

using namespace tamp;
using namespace tamp::compression::search;

namespace {

// The super-network with the genome's masks applied to (copies of) its weights.
nn::Graph masked(const nn::Graph& g, const SearchSpace& space, const Genome& genome) {
  nn::Graph out = g;
  for (const auto& [name, m] : space.masks(genome, g)) {
    Tensor t = out.initializers.at(name).clone();
    compression::pruning::multiply_in_place(t, m.to(t.dtype()));
    out.initializers[name] = t;
  }
  return out;
}

// The sub-network runs in ONNX Runtime and in tamp like the masked super-network.
void expect_equivalent(const nn::Graph& g, const SearchSpace& space, const Genome& genome,
                       const Tensor& x) {
  const nn::Graph sub = space.extract(g, genome);
  const Tensor reference = test::run_tamp(masked(g, space, genome), x);
  EXPECT_LE(test::max_abs_diff(test::run_tamp(sub, x), reference),
            1e-4 * (1 + test::max_abs(reference)))
      << space.describe(genome);
  test::TempDir dir;
  io::save_onnx_graph(sub, dir.file("sub.onnx"));
  const Tensor ort =
      test::run_ort(dir.file("sub.onnx"), {{sub.inputs[0].name, x}}).at(sub.outputs[0].name);
  EXPECT_LE(test::max_abs_diff(ort, reference), 1e-4 * (1 + test::max_abs(reference)))
      << space.describe(genome);
}

Genome random_genome(const SearchSpace& s, Generator& rng) {
  Genome g;
  for (const auto& d : s.dimensions()) g.push_back(static_cast<int>(rng.below(d.choices.size())));
  return g;
}

TEST(SearchSpace, CnnWidths) {
  const nn::Graph g = test::test_model("cnn");
  const SearchSpace s = SearchSpace::of(g, {.width_ratios = {0.25, 0.5, 1}});
  ASSERT_EQ(s.dimensions().size(), 3u);  // conv1, conv2, fc1; fc2 feeds the output
  EXPECT_EQ(s.dimensions()[0].name, "conv1.weight");
  EXPECT_EQ(s.dimensions()[1].choices, (std::vector<int64_t>{16, 32, 64}));
  EXPECT_EQ(s.dimensions()[2].choices, (std::vector<int64_t>{32, 64, 128}));
  const Genome half = s.uniform(0.5);
  EXPECT_EQ(s.values(half), (std::vector<int64_t>{16, 32, 64}));
  EXPECT_EQ(s.describe(s.largest()), "full");
  EXPECT_EQ(s.describe(half), "conv1.weight 16/32, conv2.weight 32/64, fc1.weight 64/128");

  const nn::Graph sub = s.extract(g, half);
  EXPECT_EQ(sub.initializers.at("conv1.weight").shape(), (Shape{16, 1, 3, 3}));
  EXPECT_EQ(sub.initializers.at("conv2.weight").shape(), (Shape{32, 16, 3, 3}));
  EXPECT_EQ(sub.initializers.at("fc1.weight").shape(), (Shape{64, 800}));
  EXPECT_EQ(sub.initializers.at("fc2.weight").shape(), (Shape{10, 64}));
  const nn::GraphCost c = nn::graph_cost(sub);
  EXPECT_EQ(c.macs, 16 * 26 * 26 * 9 + 32 * 11 * 11 * 16 * 9 + 64 * 800 + 10 * 64);
  EXPECT_EQ(c.parameters, 16 * 9 + 16 + 32 * 16 * 9 + 32 + 64 * 800 + 64 + 10 * 64 + 10);
  // Kept channels are the most important ones: the L1 norm of every kept conv1 row is at
  // least that of every removed one.
  const Tensor& w = g.initializers.at("conv1.weight");
  const auto& order = s.dimensions()[0].order;
  auto l1 = [&](int64_t c) {
    double sum = 0;
    for (int k = 0; k < 9; ++k) sum += std::fabs(w.at(c * 9 + k));
    return sum;
  };
  for (size_t i = 0; i < 16; ++i) {
    for (size_t j = 16; j < 32; ++j) EXPECT_GE(l1(order[i]), l1(order[j]));
  }
}

TEST(SearchSpace, CnnSubNetworksEqualTheMaskedSuperNetwork) {
  const nn::Graph g = test::test_model("cnn");
  const SearchSpace s = SearchSpace::of(g);
  const Tensor x = test::random_tensor({5, 1, 28, 28}, 1);
  Generator rng(7);
  expect_equivalent(g, s, s.smallest(), x);
  for (int k = 0; k < 3; ++k) expect_equivalent(g, s, random_genome(s, rng), x);
}

TEST(SearchSpace, BatchNormWidthsAndResidualDepth) {
  // Block A's first conv (its channels pass BatchNormalization and Relu) and block A itself.
  const nn::Graph g = test::residual_graph();
  const SearchSpace s = SearchSpace::of(g, {.width_ratios = {0.25, 0.5, 1}});
  ASSERT_EQ(s.dimensions().size(), 2u);
  EXPECT_EQ(s.dimensions()[0].name, "a1.w");
  EXPECT_EQ(s.dimensions()[1].kind, DimensionKind::kDepth);
  // Channels rank by |BatchNormalization scale|.
  const Tensor& scale = g.initializers.at("a1.scale");
  const auto& order = s.dimensions()[0].order;
  for (size_t i = 1; i < order.size(); ++i)
    EXPECT_GE(std::fabs(scale.at(order[i - 1])), std::fabs(scale.at(order[i])));
  const Tensor x = test::random_tensor({2, 4, 6, 6}, 2);
  for (const Genome& genome : {Genome{0, 1}, Genome{1, 1}, Genome{0, 0}, Genome{2, 0}})
    expect_equivalent(g, s, genome, x);
  EXPECT_EQ(s.extract(g, {0, 1}).initializers.at("a1.w").shape(), (Shape{1, 4, 3, 3}));
  EXPECT_FALSE(s.extract(g, {2, 0}).initializers.count("a1.w"));
}

TEST(SearchSpace, TransformerHeadsWidthsAndDepth) {
  const nn::Graph g = test::test_model("transformer");
  const SearchSpace s = SearchSpace::of(g, {.width_ratios = {0.25, 0.5, 1}});
  int heads = 0, widths = 0, depth = 0;
  for (const auto& d : s.dimensions()) {
    heads += d.kind == DimensionKind::kHeads;
    widths += d.kind == DimensionKind::kWidth;
    depth += d.kind == DimensionKind::kDepth;
  }
  EXPECT_EQ(heads, 2);   // two encoder layers of 4 heads
  EXPECT_GE(widths, 2);  // the feed-forward layers
  EXPECT_EQ(depth, 4);   // attention and feed-forward residuals of both layers
  const Tensor x = test::random_tensor({3, 64, 16}, 3);
  Generator rng(9);
  expect_equivalent(g, s, s.smallest(), x);
  for (int k = 0; k < 2; ++k) expect_equivalent(g, s, random_genome(s, rng), x);
  EXPECT_LT(nn::graph_cost(s.extract(g, s.smallest())).macs, nn::graph_cost(g).macs / 4);
}

TEST(SearchSpace, NothingToSearchIsExplained) {
  const nn::Graph g = test::test_model("cnn");
  try {
    SearchSpace::of(g, {.exclude = {".*"}});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv1.weight: excluded"), std::string::npos) << e.what();
  }
  EXPECT_THROW(SearchSpace::of(g, {.width_ratios = {0}}), Error);
}

}  // namespace
