// SmoothQuant: the fold keeps the float function (transformer, encoder, a LayerNorm layer) and,
// on a layer whose input has outlier channels, flattens the activation ranges and lowers the
// quantized output error.
#include <tamp/compression/quantization/ptq/smooth_quant.h>
#include <tamp/io/onnx_import.h>

#include "compression/quantization/ptq_recovery_support.h"
#include "support/ort_runner.h"

namespace tamp {
namespace {

using namespace compression;
using test::ptq::randn;

nn::Graph model(const std::string& name) {
  return io::load_onnx_graph(test::source_dir() + "/tests/data/models/" + name + ".onnx");
}

// x [batch, 64] -> LayerNormalization (channels 3, 17, 40 and 59 scaled by 100: outliers, as
// in LLM activations) -> MatMul [64, 32] + bias -> y.
nn::Graph outlier_layer() {
  nn::Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back({"x", DType::kFloat32, {nn::Dim::symbolic("batch"), nn::Dim::of(64)}});
  Tensor gamma = Tensor::ones({64});
  for (int c : {3, 17, 40, 59}) gamma.data<float>()[c] = 100.0f;
  g.initializers["ln.scale"] = gamma;
  g.initializers["ln.bias"] = randn({64}, 5, 0.1f);
  g.initializers["fc.weight"] = randn({64, 32}, 6, 0.3f);
  g.initializers["fc.bias"] = randn({32}, 7, 0.1f);
  Attributes ln;
  ln.set("axis", int64_t{-1});
  g.nodes.push_back(
      {"ln", "LayerNormalization", "", {"x", "ln.scale", "ln.bias"}, {"h"}, nn::attrs_with(ln)});
  g.nodes.push_back({"fc", "MatMul", "", {"h", "fc.weight"}, {"fc_out"}});
  g.nodes.push_back({"fc_add", "Add", "", {"fc_out", "fc.bias"}, {"y"}});
  g.outputs.push_back({"y", DType::kFloat32, {nn::Dim::symbolic("batch"), nn::Dim::of(32)}});
  return g;
}

// Folds SmoothQuant into g calibrated on x; returns the groups.
std::vector<SmoothGroup> smooth(nn::GraphModule& m, const Tensor& x, SmoothQuantOptions o = {}) {
  auto sq = std::make_shared<SmoothQuant>(o);
  test::ptq::calibrate(m, {sq}, x);
  return sq->groups();
}

// Mean squared error of the MatMul's product ("fc_out") after static PTQ of g against the
// float model's, on x.
double matmul_error(const nn::Graph& g, const Tensor& calib, const Tensor& x) {
  NoGradGuard no_grad;
  nn::GraphModule f(g);
  auto q = test::ptq::quantized(g, calib);
  q->eval();
  const Tensor want = f.forward({{"x", Variable(x)}}, {"fc_out"}).at("fc_out").value();
  return test::ptq::mse(
      q->forward({{"x", Variable(x)}}, {"fc_out_float"}).at("fc_out_float").value(), want);
}

bool weights_changed(const nn::Graph& before, const nn::Graph& after) {
  for (const auto& [name, t] : before.initializers) {
    if (t.dtype() != DType::kFloat32) continue;
    const Tensor& u = after.initializers.at(name);
    for (int64_t i = 0; i < t.numel(); ++i)
      if (t.data<float>()[i] != u.data<float>()[i]) return true;
  }
  return false;
}

TEST(SmoothQuant, FactorsFollowThePaper) {
  const auto s = smoothing_factors({4.0f, 1.0f, 0.0f}, {1.0f, 4.0f, 2.0f}, 0.5);
  EXPECT_FLOAT_EQ(s[0], 2.0f);  // sqrt(4) / sqrt(1)
  EXPECT_FLOAT_EQ(s[1], 0.5f);  // sqrt(1) / sqrt(4)
  EXPECT_FLOAT_EQ(s[2], 1.0f);  // dead channel: unchanged
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
  EXPECT_LT(test::ptq::relative_max_error(test::ptq::run(m, probe), test::ptq::run(g, probe)),
            1e-4);
}

TEST(SmoothQuant, BertEncoderKeepsTheFunction) {
  const nn::Graph g = model("bert_encoder");
  Tensor ids = Tensor::empty({16, 16}, DType::kInt64);
  Generator rng(3);
  for (int64_t i = 0; i < ids.numel(); ++i)
    ids.data<int64_t>()[i] = static_cast<int64_t>(rng.below(100));
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
  // Evaluated on the calibration rows: no clipping of unseen extremes, only rounding error.
  const Tensor calib = randn({256, 64}, 11), x = calib;
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
    std::vector<float> r(64, 0.0f);
    for (int64_t i = 0; i < h.numel(); ++i)
      r[i % 64] = std::max(r[i % 64], std::abs(h.data<float>()[i]));
    std::sort(r.begin(), r.end());
    return r.back() / r[32];
  };
  EXPECT_GT(spread(g), 20.0);
  EXPECT_LT(spread(smoothed), spread(g) / 4);

  // The layer's product (before its own output quantization, which smoothing does not touch)
  // and the model output.
  const double plain = matmul_error(g, calib, x), with = matmul_error(smoothed, calib, x);
  EXPECT_LT(with, plain / 3) << "plain " << plain << ", smoothed " << with;
  const double plain_y = test::ptq::mse(test::ptq::run(*test::ptq::quantized(g, calib), x), y);
  const double with_y =
      test::ptq::mse(test::ptq::run(*test::ptq::quantized(smoothed, calib), x), y);
  EXPECT_LT(with_y, 0.7 * plain_y) << "plain " << plain_y << ", smoothed " << with_y;
}

TEST(SmoothQuant, AlphaSearchBeatsAPoorFixedAlpha) {
  const nn::Graph g = outlier_layer();
  const Tensor calib = randn({256, 64}, 21), x = calib;
  auto error_with = [&](SmoothQuantOptions o, double* alpha) {
    nn::Graph copy = g;
    for (auto& [n, t] : copy.initializers) t = t.clone();
    nn::GraphModule m(copy);
    *alpha = smooth(m, calib, o).at(0).alpha;
    return matmul_error(m.export_graph(), calib, x);
  };
  double a_fixed = 0, a_search = 0;
  // alpha 0.05 leaves the outliers in the activation (s ~ 1 / max|W|).
  const double fixed = error_with({.alpha = 0.05}, &a_fixed);
  const double searched = error_with({.search_alpha = true}, &a_search);
  EXPECT_GE(a_search, 0.3);
  EXPECT_LT(searched, fixed / 2) << "alpha " << a_search;
}

TEST(SmoothQuant, SkipsActivationsWithOtherReaders) {
  nn::Graph g = outlier_layer();
  // h also becomes a graph output: dividing it by s would change what the caller sees.
  g.outputs.push_back({"h", DType::kFloat32, {nn::Dim::symbolic("batch"), nn::Dim::of(64)}});
  EXPECT_TRUE(find_smooth_groups(g).empty());
  EXPECT_THROW(find_smooth_groups(outlier_layer(), {"no_such_node"}), Error);
}

}  // namespace
}  // namespace tamp
