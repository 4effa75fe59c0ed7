// SmoothQuant: the fold keeps the float function (transformer, encoder, a LayerNorm layer) and,
// on a layer whose input has outlier channels, flattens the activation ranges and lowers the
// quantized output error.
#include <tamp/compression/quantization/smooth_quant.h>
#include <tamp/io/onnx_import.h>

#include "ptq_recovery_support.h"
#include "support/ort_runner.h"

namespace tamp {
namespace {

using namespace compression;
using test::ptq::randn;

nn::Graph model(const std::string& name) {
  return io::load_onnx_graph(test::source_dir() + "/tests/data/models/" + name + ".onnx");
}

// x [batch, 16] -> LayerNormalization (channels 3 and 11 scaled by 40: outliers) -> MatMul
// [16, 8] + bias -> y.
nn::Graph outlier_layer() {
  nn::Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back({"x", DType::kFloat32, {nn::Dim::symbolic("batch"), nn::Dim::of(16)}});
  Tensor gamma = Tensor::ones({16});
  gamma.data<float>()[3] = gamma.data<float>()[11] = 40.0f;
  g.initializers["ln.scale"] = gamma;
  g.initializers["ln.bias"] = randn({16}, 5, 0.1f);
  g.initializers["fc.weight"] = randn({16, 8}, 6, 0.3f);
  g.initializers["fc.bias"] = randn({8}, 7, 0.1f);
  Attributes ln;
  ln.set("axis", int64_t{-1});
  g.nodes.push_back({"ln", "LayerNormalization", "", {"x", "ln.scale", "ln.bias"}, {"h"}, nn::attrs_with(ln)});
  g.nodes.push_back({"fc", "MatMul", "", {"h", "fc.weight"}, {"fc_out"}});
  g.nodes.push_back({"fc_add", "Add", "", {"fc_out", "fc.bias"}, {"y"}});
  g.outputs.push_back({"y", DType::kFloat32, {nn::Dim::symbolic("batch"), nn::Dim::of(8)}});
  return g;
}

// Folds SmoothQuant into g calibrated on x; returns the groups.
std::vector<SmoothGroup> smooth(nn::GraphModule& m, const Tensor& x, SmoothQuantOptions o = {}) {
  auto sq = std::make_shared<SmoothQuant>(o);
  test::ptq::calibrate(m, {sq}, x);
  return sq->groups();
}

bool weights_changed(const nn::Graph& before, const nn::Graph& after) {
  for (const auto& [name, t] : before.initializers) {
    if (t.dtype() != DType::kFloat32) continue;
    const Tensor& u = after.initializers.at(name);
    for (int64_t i = 0; i < t.numel(); ++i) if (t.data<float>()[i] != u.data<float>()[i]) return true;
  }
  return false;
}

TEST(SmoothQuant, FactorsFollowThePaper) {
  const auto s = smoothing_factors({4.0f, 1.0f, 0.0f}, {1.0f, 4.0f, 2.0f}, 0.5);
  EXPECT_FLOAT_EQ(s[0], 2.0f);   // sqrt(4) / sqrt(1)
  EXPECT_FLOAT_EQ(s[1], 0.5f);   // sqrt(1) / sqrt(4)
  EXPECT_FLOAT_EQ(s[2], 1.0f);   // dead channel: unchanged
  EXPECT_FLOAT_EQ(smoothing_factors({8.0f}, {2.0f}, 1.0)[0], 8.0f);
  EXPECT_THROW(smoothing_factors({1.0f}, {1.0f}, 1.5), Error);
}

TEST(SmoothQuant, TransformerFoldsItsReluFeedForwardAndKeepsTheFunction) {
  const nn::Graph g = model("transformer");
  const auto groups = find_smooth_groups(g);
  // Post-norm: the LayerNorms also feed residual Adds; each layer's ff1 -> Relu -> ff2 folds.
  ASSERT_EQ(groups.size(), 2u);
  for (const auto& grp : groups) {
    EXPECT_TRUE(grp.through_relu);
    EXPECT_EQ(grp.producer_op, "MatMul");
    EXPECT_EQ(grp.channels, 512);
  }
  const Tensor x = randn({32, 64, 16}, 1), probe = randn({8, 64, 16}, 2);
  nn::Graph copy = g;
  for (auto& [n, t] : copy.initializers) t = t.clone();
  nn::GraphModule m(copy);
  for (const auto& grp : smooth(m, x, {.alpha = 0.8})) EXPECT_DOUBLE_EQ(grp.alpha, 0.8);
  EXPECT_TRUE(weights_changed(g, m.export_graph()));
  EXPECT_LT(test::ptq::relative_max_error(test::ptq::run(m, probe), test::ptq::run(g, probe)), 1e-4);
}

TEST(SmoothQuant, BertEncoderKeepsTheFunction) {
  const nn::Graph g = model("bert_encoder");
  Tensor ids = Tensor::empty({16, 16}, DType::kInt64);
  Generator rng(3);
  for (int64_t i = 0; i < ids.numel(); ++i) ids.data<int64_t>()[i] = static_cast<int64_t>(rng.below(100));
  nn::Graph copy = g;
  for (auto& [n, t] : copy.initializers) t = t.clone();
  nn::GraphModule m(copy);
  const auto groups = smooth(m, ids);
  const Tensor y0 = test::ptq::run(g, ids), y1 = test::ptq::run(m, ids);
  EXPECT_LT(test::ptq::relative_max_error(y1, y0), 1e-4);
  // Every group found was folded (weights changed exactly when there is one).
  EXPECT_EQ(weights_changed(g, m.export_graph()), !groups.empty());
}

TEST(SmoothQuant, LayerNormFoldFlattensOutliersAndLowersQuantizedError) {
  const nn::Graph g = outlier_layer();
  const Tensor calib = randn({256, 16}, 11), x = randn({128, 16}, 12);
  nn::Graph copy = g;
  for (auto& [n, t] : copy.initializers) t = t.clone();
  nn::GraphModule m(copy);
  const auto groups = smooth(m, calib);
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].producer, "ln");
  EXPECT_EQ(groups[0].readers, std::vector<std::string>{"fc"});
  const nn::Graph smoothed = m.export_graph();
  const Tensor y = test::ptq::run(g, x);
  EXPECT_LT(test::ptq::relative_max_error(test::ptq::run(smoothed, x), y), 1e-4);

  // Range outliers: the largest channel range over the median one, before and after.
  auto spread = [&](const nn::Graph& graph) {
    nn::GraphModule mm(graph);
    NoGradGuard no_grad;
    const Tensor h = mm.forward({{"x", Variable(x)}}, {"h"}).at("h").value();
    std::vector<float> r(16, 0.0f);
    for (int64_t i = 0; i < h.numel(); ++i) r[i % 16] = std::max(r[i % 16], std::abs(h.data<float>()[i]));
    std::sort(r.begin(), r.end());
    return r.back() / r[8];
  };
  EXPECT_GT(spread(g), 20.0);
  EXPECT_LT(spread(smoothed), spread(g) / 4);

  const double plain = test::ptq::mse(test::ptq::run(*test::ptq::quantized(g, calib), x), y);
  const double with = test::ptq::mse(test::ptq::run(*test::ptq::quantized(smoothed, calib), x), y);
  EXPECT_LT(with, plain / 2) << "plain " << plain << ", smoothed " << with;
}

TEST(SmoothQuant, AlphaSearchIsAtLeastAsGoodAsTheDefault) {
  const nn::Graph g = outlier_layer();
  const Tensor calib = randn({256, 16}, 21), x = randn({128, 16}, 22);
  const Tensor y = test::ptq::run(g, x);
  auto error_with = [&](SmoothQuantOptions o, double* alpha) {
    nn::Graph copy = g;
    for (auto& [n, t] : copy.initializers) t = t.clone();
    nn::GraphModule m(copy);
    *alpha = smooth(m, calib, o).at(0).alpha;
    return test::ptq::mse(test::ptq::run(*test::ptq::quantized(m.export_graph(), calib), x), y);
  };
  double a_fixed = 0, a_search = 0;
  const double fixed = error_with({.alpha = 0.0}, &a_fixed);
  const double searched = error_with({.search_alpha = true}, &a_search);
  EXPECT_NE(a_search, 0.0);
  EXPECT_LT(searched, fixed);
}

TEST(SmoothQuant, SkipsActivationsWithOtherReaders) {
  nn::Graph g = outlier_layer();
  // h also becomes a graph output: dividing it by s would change what the caller sees.
  g.outputs.push_back({"h", DType::kFloat32, {nn::Dim::symbolic("batch"), nn::Dim::of(16)}});
  EXPECT_TRUE(find_smooth_groups(g).empty());
  EXPECT_THROW(find_smooth_groups(outlier_layer(), {"no_such_node"}), Error);
}

}  // namespace
}  // namespace tamp
