// Cross-layer equalization (equalization.h): the float function stays (conv-relu-conv,
// depthwise-pointwise, MobileNetV2 from PyTorch), every pair ends with equal per-channel
// ranges on both sides, and the spread of channel ranges shrinks; ReLU6 pairs are skipped
// unless relu6_to_relu asks for a Relu.
#include <tamp/compression/quantization/ptq/equalization.h>
#include <tamp/compression/quantization/ptq/static_quantization.h>
#include <tamp/nn/init.h>

#include "compression/quantization/quant_test_support.h"

#include <algorithm>
#include <cmath>

namespace tamp::test {
namespace {

using namespace compression;

// Weight [out, in, k, k] whose output channels span three orders of magnitude.
Tensor uneven_weight(const Shape& shape, Generator& rng) {
  Tensor w = nn::init::uniform(shape, -1, 1, rng);
  const int64_t per = w.numel() / shape[0];
  for (int64_t o = 0; o < shape[0]; ++o) {
    const float f = static_cast<float>(std::pow(10.0, 3.0 * rng.uniform_double() - 1.5));
    for (int64_t k = 0; k < per; ++k) w.data<float>()[o * per + k] *= f;
  }
  return w;
}

// x -> Conv(c_in -> mid, group g1) -> act -> Conv(mid -> c_out, group g2) -> y.
nn::Graph two_convs(int64_t c_in, int64_t mid, int64_t c_out, int64_t g1, int64_t g2, int64_t k2,
                    const std::string& act) {
  Generator rng(7);
  nn::Graph g;
  g.inputs.push_back(
      {"x",
       DType::kFloat32,
       {nn::Dim::symbolic("batch"), nn::Dim::of(c_in), nn::Dim::of(8), nn::Dim::of(8)}});
  g.initializers["w1"] = uneven_weight({mid, c_in / g1, 3, 3}, rng);
  g.initializers["b1"] = nn::init::uniform({mid}, -1, 1, rng);
  g.initializers["w2"] = nn::init::uniform({c_out, mid / g2, k2, k2}, -1, 1, rng);
  g.initializers["b2"] = nn::init::uniform({c_out}, -1, 1, rng);
  g.nodes.push_back({"conv1",
                     "Conv",
                     "",
                     {"x", "w1", "b1"},
                     {"h"},
                     nn::attrs_with({{"group", g1}, {"pads", std::vector<int64_t>{1, 1, 1, 1}}})});
  std::string joined = "h";
  if (act == "Relu") {
    g.nodes.push_back({"act", "Relu", "", {"h"}, {"a"}});
    joined = "a";
  } else if (act == "Relu6") {
    g.initializers["lo"] = Tensor::scalar(0);
    g.initializers["hi"] = Tensor::scalar(6);
    g.nodes.push_back({"act", "Clip", "", {"h", "lo", "hi"}, {"a"}});
    joined = "a";
  }
  g.nodes.push_back(
      {"conv2", "Conv", "", {joined, "w2", "b2"}, {"y"}, nn::attrs_with({{"group", g2}})});
  g.outputs.push_back({"y", DType::kFloat32, {}});
  return g;
}

Tensor random_input(const nn::Graph& g, int64_t n, uint64_t seed) {
  Generator rng(seed);
  Shape s{n};
  for (size_t i = 1; i < g.inputs[0].shape.size(); ++i) s.push_back(g.inputs[0].shape[i].value);
  return nn::init::uniform(s, -1, 2, rng);
}

// max |a - b| / max |a|
double relative_difference(const Tensor& a, const Tensor& b) {
  double d = 0, m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    d = std::max(d, std::fabs(double(a.at(i)) - b.at(i)));
    m = std::max(m, std::fabs(double(a.at(i))));
  }
  return d / m;
}

std::vector<double> channel_ranges(const Tensor& w, bool input_axis, int64_t group = 1) {
  const int64_t cout = w.dim(0), slots = w.dim(1), kernel = w.numel() / (cout * slots);
  std::vector<double> r(static_cast<size_t>(input_axis ? slots * group : cout), 0.0);
  for (int64_t o = 0; o < cout; ++o) {
    for (int64_t s = 0; s < slots; ++s) {
      const int64_t c = input_axis ? (o / (cout / group)) * slots + s : o;
      for (int64_t k = 0; k < kernel; ++k) {
        r[static_cast<size_t>(c)] =
            std::max(r[static_cast<size_t>(c)],
                     std::fabs(double(w.data<float>()[(o * slots + s) * kernel + k])));
      }
    }
  }
  return r;
}

EqualizationOptions relu6_to_relu() {
  EqualizationOptions o;
  o.relu6_to_relu = true;
  return o;
}

double spread(const std::vector<double>& r) {  // smallest / largest channel range
  return *std::min_element(r.begin(), r.end()) / *std::max_element(r.begin(), r.end());
}

void expect_same_function(const nn::Graph& before, const nn::Graph& after, double tolerance) {
  nn::GraphModule a(before), b(after);
  const Tensor x = random_input(before, 4, 11);
  EXPECT_LT(relative_difference(tamp_logits(a, x), tamp_logits(b, x)), tolerance);
}

TEST(CrossLayerEqualization, ConvReluConvKeepsTheFunctionAndEqualizesTheRanges) {
  const nn::Graph g = two_convs(3, 16, 8, 1, 1, 3, "Relu");
  const Tensor w1_before = g.initializers.at("w1").clone();
  nn::Graph e = g;
  const EqualizationReport r = equalize_cross_layer(e);
  ASSERT_EQ(r.pairs.size(), 1u);
  EXPECT_EQ(r.pairs[0], std::make_pair(std::string("conv1"), std::string("conv2")));
  expect_same_function(g, e, 1e-4);
  const auto r1 = channel_ranges(e.initializers.at("w1"), false),
             r2 = channel_ranges(e.initializers.at("w2"), true);
  for (size_t i = 0; i < r1.size(); ++i) EXPECT_NEAR(r1[i], r2[i], 1e-5 * r1[i]) << "channel " << i;
  // r1_i becomes sqrt(r1_i * r2_i): with even r2, the spread of r1 about its square root.
  const double before = spread(channel_ranges(g.initializers.at("w1"), false));
  EXPECT_LT(before, 0.02);  // orders of magnitude apart
  EXPECT_GT(spread(r1), 5 * before);
  // A graph sharing the tensors keeps its values (equalization writes new tensors).
  EXPECT_EQ(relative_difference(g.initializers.at("w1"), w1_before), 0);
}

TEST(CrossLayerEqualization, DepthwiseThenPointwiseKeepsTheFunction) {
  const nn::Graph g = two_convs(16, 16, 24, 16, 1, 1, "Relu");
  nn::Graph e = g;
  ASSERT_EQ(equalize_cross_layer(e).pairs.size(), 1u);
  expect_same_function(g, e, 1e-4);
  const auto r1 = channel_ranges(e.initializers.at("w1"), false),
             r2 = channel_ranges(e.initializers.at("w2"), true);
  for (size_t i = 0; i < r1.size(); ++i) EXPECT_NEAR(r1[i], r2[i], 1e-5 * r1[i]) << "channel " << i;
  EXPECT_GT(spread(r1), 5 * spread(channel_ranges(g.initializers.at("w1"), false)));
}

TEST(CrossLayerEqualization, PointwiseThenDepthwiseScalesTheDepthwiseKernels) {
  const nn::Graph g = two_convs(8, 16, 16, 1, 16, 3, "");
  nn::Graph e = g;
  ASSERT_EQ(equalize_cross_layer(e).pairs.size(), 1u);
  expect_same_function(g, e, 1e-4);
  const auto r1 = channel_ranges(e.initializers.at("w1"), false);
  const auto r2 = channel_ranges(e.initializers.at("w2"), true, 16);
  for (size_t i = 0; i < r1.size(); ++i) EXPECT_NEAR(r1[i], r2[i], 1e-5 * r1[i]) << "channel " << i;
}

TEST(CrossLayerEqualization, Relu6PairsAreSkippedUnlessReplacedByRelu) {
  const nn::Graph g = two_convs(3, 16, 8, 1, 1, 3, "Relu6");
  nn::Graph kept = g;
  const EqualizationReport r = equalize_cross_layer(kept);
  EXPECT_TRUE(r.pairs.empty());
  EXPECT_EQ(r.skipped_relu6, 1);
  EXPECT_EQ(kept.initializers.at("w1").data<float>(), g.initializers.at("w1").data<float>());

  nn::Graph replaced = g;
  const EqualizationReport q = equalize_cross_layer(replaced, relu6_to_relu());
  EXPECT_EQ(q.pairs.size(), 1u);
  EXPECT_EQ(q.relu6_replaced, 1);
  EXPECT_EQ(replaced.find_node("act")->op_type, "Relu");
  // The same as the float model with Relu in place of ReLU6.
  expect_same_function(two_convs(3, 16, 8, 1, 1, 3, "Relu"), replaced, 1e-4);
}

TEST(CrossLayerEqualization, MobileNetV2KeepsItsFunction) {
  const nn::Graph g = load_model("mobilenet_v2");
  nn::Graph e = g;
  const EqualizationReport r = equalize_cross_layer(e);
  // ReLU6 joins expand -> depthwise -> project; the linear bottleneck (project -> next
  // expand without a residual Add) is the pair left.
  EXPECT_GT(r.pairs.size(), 0u);
  EXPECT_GT(r.skipped_relu6, 20);
  expect_same_function(g, e, 1e-4);

  nn::Graph relu = g;
  const EqualizationReport q = equalize_cross_layer(relu, relu6_to_relu());
  EXPECT_EQ(q.relu6_replaced, r.skipped_relu6);  // every skipped pair is taken
  EXPECT_EQ(q.pairs.size(), r.pairs.size() + static_cast<size_t>(r.skipped_relu6));
  EXPECT_GT(q.iterations, 1);
  // Against the unequalized weights in the graph with those Clips as Relu (no BatchNorm to
  // fold: the names and shapes are the same).
  nn::Graph reference = relu;
  for (auto& [name, t] : reference.initializers)
    if (g.initializers.count(name)) t = g.initializers.at(name);
  expect_same_function(reference, relu, 1e-4);
}

TEST(CrossLayerEqualization, RefusesAQuantizedGraph) {
  nn::Graph g = load_model("cnn");
  nn::GraphModule m(g);
  StaticQuantization sq;
  sq.attach(m, nn::local_collective());
  nn::Graph q = m.export_graph();
  EXPECT_THROW(equalize_cross_layer(q), Error);
}

}  // namespace
}  // namespace tamp::test
