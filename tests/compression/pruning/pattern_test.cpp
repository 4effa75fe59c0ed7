// Patterns, weight layouts and the selection of what to prune, on hand-made tensors.
#include <tamp/compression/pruning/checker.h>
#include <tamp/compression/pruning/pattern.h>
#include <tamp/compression/pruning/selection.h>

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

using namespace tamp;
using namespace tamp::compression::pruning;

TEST(PruningPattern, ParsesEveryForm) {
  EXPECT_EQ(Pattern::parse("unstructured").kind, PatternKind::kUnstructured);
  EXPECT_EQ(Pattern::parse("1x1").kind, PatternKind::kUnstructured);
  const Pattern b = Pattern::parse("4x1");
  EXPECT_EQ(b.kind, PatternKind::kBlock);
  EXPECT_EQ(b.block_rows, 4);
  EXPECT_EQ(b.block_cols, 1);
  EXPECT_EQ(Pattern::parse("1x4").block_cols, 4);
  const Pattern nm = Pattern::parse("2:4");
  EXPECT_EQ(nm.kind, PatternKind::kNofM);
  EXPECT_EQ(nm.n, 2);
  EXPECT_EQ(nm.m, 4);
  EXPECT_DOUBLE_EQ(nm.max_sparsity(), 0.5);
  EXPECT_DOUBLE_EQ(Pattern::parse("1:4").max_sparsity(), 0.75);
  EXPECT_EQ(Pattern::parse("channel").kind, PatternKind::kChannel);
  EXPECT_EQ(Pattern::parse("filter").kind, PatternKind::kChannel);
  EXPECT_EQ(Pattern::parse("head").kind, PatternKind::kHead);
  EXPECT_EQ(Pattern::parse("4:8").str(), "4:8");
  EXPECT_EQ(Pattern::parse("2x2").str(), "2x2");
}

TEST(PruningPattern, RejectsMalformedPatterns) {
  for (const char* bad : {"", "2:2", "4:2", "0:4", "2:", ":4", "a:b", "2:4:8", "0x4", "4x", "x",
                          "-1x4", "2:100", "99999999x1", "block", "2 :4"}) {
    EXPECT_THROW(Pattern::parse(bad), Error) << bad;
  }
  try {
    Pattern::parse("3:3");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'3:3'"), std::string::npos) << e.what();
  }
}

TEST(PruningLayout, ConvColumnsRunAlongInputChannelsFirst) {
  // Conv [M=2, C=4, 1, 2]: view column p*C + c is element (m, c, p).
  const WeightLayout l = WeightLayout::of("Conv", {2, 4, 1, 2});
  EXPECT_EQ(l.out, 2);
  EXPECT_EQ(l.reduction, 8);
  EXPECT_EQ(l.in_channels, 4);
  EXPECT_EQ(l.positions, 2);
  EXPECT_EQ(l.flat_index(0, 0), 0);   // (m0, c0, p0)
  EXPECT_EQ(l.flat_index(0, 1), 2);   // (m0, c1, p0)
  EXPECT_EQ(l.flat_index(0, 4), 1);   // (m0, c0, p1)
  EXPECT_EQ(l.flat_index(1, 7), 15);  // (m1, c3, p1)
  Tensor w = Tensor::from_vector<float>({2, 4, 1, 2}, [] {
    std::vector<float> v(16);
    std::iota(v.begin(), v.end(), 0.0f);
    return v;
  }());
  const auto view = to_view(w, l);
  EXPECT_EQ(view[1], 2.0f);
  EXPECT_EQ(view[4], 1.0f);
  const Tensor back = from_view(view, l);
  EXPECT_EQ(back.to_vector<float>(), w.to_vector<float>());
}

TEST(PruningLayout, GemmAndMatMulViewsAreOutByReduction) {
  const WeightLayout gemm = WeightLayout::of("Gemm", {3, 5});  // transB = 1: [N, K]
  EXPECT_EQ(gemm.out, 3);
  EXPECT_EQ(gemm.reduction, 5);
  EXPECT_EQ(gemm.flat_index(1, 2), 7);
  const WeightLayout mm = WeightLayout::of("MatMul", {5, 3});  // [K, N]
  EXPECT_EQ(mm.out, 3);
  EXPECT_EQ(mm.reduction, 5);
  EXPECT_EQ(mm.flat_index(1, 2), 2 * 3 + 1);
  const WeightLayout gemm_t = WeightLayout::of("Gemm", {5, 3}, /*transposed=*/true);
  EXPECT_EQ(gemm_t.out, 3);
  EXPECT_EQ(gemm_t.flat_index(2, 4), 4 * 3 + 2);
  EXPECT_THROW(WeightLayout::of("Add", {3, 3}), Error);
  EXPECT_THROW(WeightLayout::of("MatMul", {2, 3, 3}), Error);
  EXPECT_THROW(WeightLayout::of("Conv", {3, 3}), Error);
}

TEST(PruningLayout, DivisibilityNamesTheAxis) {
  const WeightLayout conv1 = WeightLayout::of("Conv", {32, 1, 3, 3});
  EXPECT_NE(divisibility_problem(Pattern::parse("2:4"), conv1).find("input channels (1)"),
            std::string::npos);
  // C*k*k = 9*4 = 36 is a multiple of 4, but groups must stay on one kernel position.
  EXPECT_NE(divisibility_problem(Pattern::parse("1x8"), WeightLayout::of("Conv", {8, 4, 3, 3})),
            "");
  EXPECT_EQ(divisibility_problem(Pattern::parse("2:4"), WeightLayout::of("Conv", {8, 4, 3, 3})),
            "");
  EXPECT_NE(
      divisibility_problem(Pattern::parse("4x1"), WeightLayout::of("Gemm", {10, 128})).find("(10)"),
      std::string::npos);
  EXPECT_EQ(divisibility_problem(Pattern::parse("channel"), WeightLayout::of("Gemm", {10, 7})), "");
}

TEST(PruningSelection, LowestScoresArePrunedToTheTarget) {
  const WeightLayout l = WeightLayout::of("Gemm", {2, 4});
  const std::vector<float> scores{5, 1, 7, 3, 2, 8, 6, 4};
  std::vector<float> mask(8, 1.0f);
  const Units u = unit_scores(scores, mask, Pattern{}, l);
  apply_units(u, select_lowest(candidates(u, 0), 0.5 * 8), mask);
  EXPECT_EQ(mask, (std::vector<float>{1, 0, 1, 0, 0, 1, 1, 0}));
  // Monotone: an already pruned unit stays pruned even if the target drops.
  const Units again = unit_scores(scores, mask, Pattern{}, l);
  EXPECT_TRUE(std::isinf(again.score[1]));
  std::vector<float> mask2 = mask;
  apply_units(again, select_lowest(candidates(again, 0), 1), mask2);
  EXPECT_EQ(mask2, mask);
}

TEST(PruningSelection, TargetsAreMetWithinHalfAUnit) {
  std::vector<Candidate> c;
  for (int i = 0; i < 10; ++i) c.push_back({static_cast<double>(i), 4, 0, i});
  auto count = [](const std::vector<char>& v) { return std::count(v.begin(), v.end(), 1); };
  EXPECT_EQ(count(select_lowest(c, 9.0)), 2);   // 8 elements (9 is within 2 of 8)
  EXPECT_EQ(count(select_lowest(c, 10.0)), 3);  // 12 (10 + 4/2 = 12 still allowed)
  EXPECT_EQ(count(select_lowest(c, 0.0)), 0);
  EXPECT_EQ(count(select_lowest(c, 1000.0)), 10);
  // Mixed sizes (global channel pruning) take the lowest scores first.
  std::vector<Candidate> mixed{{0.5, 10, 0, 0}, {0.1, 2, 1, 0}, {0.2, 6, 1, 1}};
  EXPECT_EQ(select_lowest(mixed, 8), (std::vector<char>{0, 1, 1}));
}

TEST(PruningSelection, BlocksArePrunedWhole) {
  const WeightLayout l = WeightLayout::of("Gemm", {4, 4});
  std::vector<float> scores(16, 1.0f);
  // Block (rows 2-3, cols 0-1) has the lowest mean.
  scores[8] = scores[9] = scores[12] = scores[13] = 0.1f;
  scores[0] = 0.0f;  // one low element does not make its block the lowest
  std::vector<float> mask(16, 1.0f);
  const Units u = unit_scores(scores, mask, Pattern::parse("2x2"), l);
  ASSERT_EQ(u.count, 4);
  apply_units(u, select_lowest(candidates(u, 0), 4), mask);
  for (int i : {8, 9, 12, 13}) EXPECT_EQ(mask[i], 0.0f) << i;
  EXPECT_EQ(std::count(mask.begin(), mask.end(), 0.0f), 4);
  const PatternCheck c = check_pattern(from_view(mask, l), l, Pattern::parse("2x2"));
  EXPECT_TRUE(c.valid) << c.detail;
  EXPECT_EQ(c.zero_units, 1);
}

TEST(PruningSelection, NofMKeepsTheLargestInEveryGroup) {
  const WeightLayout l = WeightLayout::of("Gemm", {2, 8});
  const std::vector<float> scores{4, 3, 2, 1, 1, 2, 3, 4, 9, 8, 0, 7, 5, 5, 6, 0};
  std::vector<float> mask(16, 1.0f);
  prune_n_of_m(scores, Pattern::parse("2:4"), l, 0.5, mask);
  EXPECT_EQ(mask, (std::vector<float>{1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0}));
  // Half way (25 %), only the globally lowest candidates go, and every group stays valid.
  std::vector<float> half(16, 1.0f);
  prune_n_of_m(scores, Pattern::parse("2:4"), l, 0.25, half);
  EXPECT_EQ(std::count(half.begin(), half.end(), 0.0f), 4);
  EXPECT_EQ(half[10], 0.0f);
  EXPECT_EQ(half[15], 0.0f);
  for (int g = 0; g < 16; g += 4)
    EXPECT_LE(std::count(half.begin() + g, half.begin() + g + 4, 0.0f), 2) << g;
  EXPECT_THROW(prune_n_of_m(scores, Pattern::parse("2:4"), l, 0.6, mask), Error);
}

TEST(PruningChecker, NofMGroupsRunAlongConvInputChannels) {
  // Conv [1, 4, 1, 2]: groups are (c0..c3) at p0 and at p1.
  Tensor w = Tensor::from_vector<float>({1, 4, 1, 2}, {1, 1, 0, 1, 0, 0, 1, 0});
  // p0: c = {1, 0, 0, 1} -> 2 non-zeros; p1: c = {1, 1, 0, 0} -> 2 non-zeros.
  const WeightLayout l = WeightLayout::of("Conv", w.shape());
  EXPECT_TRUE(check_pattern(w, l, Pattern::parse("2:4")).valid);
  w.data<float>()[4] = 3;  // (c2, p0) -> 3 non-zeros at p0
  const PatternCheck c = check_pattern(w, l, Pattern::parse("2:4"));
  EXPECT_FALSE(c.valid);
  EXPECT_EQ(c.violations, 1);
  EXPECT_NE(c.detail.find("1 of 2 groups"), std::string::npos) << c.detail;
}

TEST(PruningChecker, DescribesTheStrongestStructure) {
  const WeightLayout l = WeightLayout::of("Gemm", {4, 8});
  Tensor dense = Tensor::ones({4, 8});
  EXPECT_EQ(describe_sparsity(dense, l).summary, "dense");
  Tensor nm = Tensor::ones({4, 8});
  for (int64_t i = 0; i < 32; i += 4) nm.data<float>()[i] = nm.data<float>()[i + 1] = 0;
  EXPECT_EQ(describe_sparsity(nm, l).summary, "50.0 % 2:4 valid");
  Tensor one_of_two = Tensor::ones({4, 8});
  for (int64_t i = 0; i < 32; i += 2) one_of_two.data<float>()[i] = 0;
  EXPECT_EQ(describe_sparsity(one_of_two, l).structure, "1:2");
  Tensor rows = Tensor::ones({4, 8});
  for (int64_t k = 0; k < 8; ++k) rows.data<float>()[8 + k] = 0;
  EXPECT_EQ(describe_sparsity(rows, l).summary, "25.0 % channel 1/4");
  Tensor blocks = Tensor::ones({4, 8});
  for (int64_t r = 0; r < 4; ++r) blocks.data<float>()[r * 8 + 3] = 0;
  EXPECT_EQ(describe_sparsity(blocks, l).structure, "4x1");
  Tensor scattered = Tensor::ones({4, 8});
  scattered.data<float>()[5] = 0;
  EXPECT_EQ(describe_sparsity(scattered, l).summary, "3.1 % unstructured");
}

TEST(PruningChecker, SeesTheZerosOfAQuantizedWeightReadThroughATranspose) {
  // MatMul(x, Transpose(DequantizeLinear(W))) as the QDQ export of torch's nn.Linear on a 3-D
  // input writes it: W [out 4, reduction 8] uint8 with zero point 119, 2:4 along the reduction.
  std::vector<uint8_t> q(32, 200);
  for (int64_t i = 0; i < 32; i += 4)
    q[static_cast<size_t>(i)] = q[static_cast<size_t>(i) + 1] = 119;
  nn::Graph g;
  g.initializers["W_q"] = Tensor::from_vector<uint8_t>({4, 8}, q);
  g.initializers["s"] = Tensor::scalar(0.1f);
  g.initializers["z"] = Tensor::from_vector<uint8_t>({}, {119});
  g.nodes.push_back({"dq", "DequantizeLinear", "", {"W_q", "s", "z"}, {"W"}});
  g.nodes.push_back({"t",
                     "Transpose",
                     "",
                     {"W"},
                     {"Wt"},
                     nn::attrs_with({{"perm", std::vector<int64_t>{1, 0}}})});
  g.nodes.push_back({"mm", "MatMul", "", {"x", "Wt"}, {"y"}});
  const std::vector<WeightSparsity> report = sparsity_report(g);
  ASSERT_EQ(report.size(), 1u);
  EXPECT_EQ(report[0].weight, "W_q");
  EXPECT_EQ(report[0].summary, "50.0 % 2:4 valid");
}
