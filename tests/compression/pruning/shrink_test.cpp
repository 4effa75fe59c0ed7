// Channel and head pruning physically shrink the exported graph: the shrunk model, run in ONNX
// Runtime, equals tamp's masked model.
#include <tamp/compression/pruning/checker.h>
#include <tamp/compression/pruning/heads.h>
#include <tamp/compression/pruning/pruning.h>
#include <tamp/compression/pruning/shrink.h>
#include <tamp/compression/pruning/targets.h>
#include <tamp/scheduler/trainer.h>

#include "compression/pruning/prune_test_support.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace tamp;
using namespace tamp::compression;
using namespace tamp::compression::pruning;
using tamp::test::count_zeros;

namespace {

Tensor eval_logits(nn::GraphModule& m, const Tensor& x) {
  NoGradGuard no_grad;
  m.eval();
  return m.forward({{m.graph().inputs[0].name, Variable(x)}}).at(m.graph().outputs[0].name).value();
}

// Largest |a - b| and the number of rows whose argmax differs.
std::pair<double, int64_t> compare_logits(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const int64_t n = a.dim(0), c = a.numel() / n;
  double worst = 0;
  int64_t argmax_diff = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t ia = 0, ib = 0;
    for (int64_t k = 0; k < c; ++k) {
      const float x = a.data<float>()[i * c + k], y = b.data<float>()[i * c + k];
      worst = std::max(worst, static_cast<double>(std::fabs(x - y)));
      if (x > a.data<float>()[i * c + ia]) ia = k;
      if (y > b.data<float>()[i * c + ib]) ib = k;
    }
    argmax_diff += ia != ib;
  }
  return {worst, argmax_diff};
}

const ShrinkReport::Layer* find_layer(const ShrinkReport& r, const std::string& weight) {
  for (const auto& l : r.layers)
    if (l.weight == weight) return &l;
  return nullptr;
}

// Runs the shrunk graph in ONNX Runtime and tamp's masked model on x; both must agree.
void expect_same_model(nn::GraphModule& masked, const nn::Graph& shrunk, const Tensor& x) {
  test::TempDir dir;
  io::save_onnx_graph(shrunk, dir.file("shrunk.onnx"));
  const Tensor ort = test::run_ort(dir.file("shrunk.onnx"), {{shrunk.inputs[0].name, x}})
                         .at(shrunk.outputs[0].name);
  const auto [worst, diff] = compare_logits(ort, eval_logits(masked, x));
  EXPECT_LE(worst, 1e-4);
  EXPECT_EQ(diff, 0);
  nn::GraphModule small(shrunk);
  EXPECT_LE(compare_logits(eval_logits(small, x), eval_logits(masked, x)).first, 1e-4);
}

}  // namespace

TEST(ChannelPruning, MasksBiasesAndBatchNormOfPrunedChannels) {
  nn::GraphModule m(test::conv_bn_graph());
  prune_once(m, {.pattern = "channel", .target_sparsity = 0.5});
  const Tensor w = m.parameter("conv1.weight").value();
  int64_t pruned = 0;
  for (int64_t c = 0; c < 8; ++c) {
    bool zero = true;
    for (int64_t k = 0; k < 9; ++k) zero = zero && w.data<float>()[c * 9 + k] == 0;
    pruned += zero;
    for (const char* p : {"conv1.bias", "bn.scale", "bn.bias"}) {
      EXPECT_EQ(m.parameter(p).value().data<float>()[c] == 0, zero) << p << " channel " << c;
    }
  }
  EXPECT_EQ(pruned, 4);
}

TEST(ChannelPruning, ShrunkGraphWithBatchNormEqualsTheMaskedModelInOrt) {
  nn::GraphModule m(test::conv_bn_graph());
  TrainOptions o;
  o.train = test::synthetic_data({1, 12, 12}, 256, 10);
  o.epochs = 2;
  o.batch_size = 32;
  o.optimizer = SGD{.lr = 0.05, .momentum = 0.9};
  auto p = std::make_shared<Pruning>(
      PruningOptions{.pattern = "channel",
                     .target_sparsity = 0.5,
                     .schedule = Schedule::gradual(Curve::kLinear, 0, 8, 4)});
  Trainer(m, {p}, o)
      .run();  // BatchNormalization trains (batch statistics) with its channels masked
  ShrinkReport r;
  const nn::Graph shrunk = shrink_pruned(m.export_graph(), &r);
  for (const char* w : {"conv1.weight", "conv2.weight", "fc1.weight"}) {
    const auto* l = find_layer(r, w);
    ASSERT_NE(l, nullptr) << w;
    EXPECT_EQ(l->after * 2, l->before) << w;
  }
  EXPECT_EQ(find_layer(r, "fc2.weight"), nullptr);  // its channels are the graph output
  EXPECT_EQ(shrunk.initializers.at("conv2.weight").shape(), (Shape{4, 4, 3, 3}));
  EXPECT_EQ(shrunk.initializers.at("bn.mean").shape(), (Shape{4}));
  EXPECT_EQ(shrunk.initializers.at("fc1.weight").shape(),
            (Shape{8, 36}));  // 4 channels x 3x3 after Flatten
  EXPECT_EQ(shrunk.initializers.at("fc2.weight").shape(), (Shape{10, 8}));
  EXPECT_LT(r.parameters_after, r.parameters_before);
  Generator rng(9);
  expect_same_model(m, shrunk, test::random_tensor({16, 1, 12, 12}, rng));
}

TEST(ChannelPruning, ShrunkCnnMatchesTheMaskedModelOnFashionMnist) {
  nn::GraphModule m(io::load_onnx_graph(test::model_file("cnn")));
  const auto report = prune_once(m, {.pattern = "channel", .target_sparsity = 0.5});
  ShrinkReport r;
  const nn::Graph shrunk = shrink_pruned(m.export_graph(), &r);
  ASSERT_EQ(r.layers.size(), 3u);  // conv1, conv2, fc1; fc2 feeds the output
  EXPECT_EQ(shrunk.initializers.at("fc1.weight").shape(), (Shape{64, 32 * 25}));
  std::vector<int64_t> rows(256);
  for (int64_t i = 0; i < 256; ++i) rows[i] = i;
  const Tensor x = test::fashion_data().test->get_batch(rows).x.reshape({256, 1, 28, 28});
  expect_same_model(m, shrunk, x);
  RecordProperty("parameters_before", std::to_string(r.parameters_before));
  RecordProperty("parameters_after", std::to_string(r.parameters_after));
  EXPECT_LT(r.parameters_after * 3, r.parameters_before);  // ~ a quarter for conv2 and fc1
}

TEST(ChannelPruning, MobileNetV2ExpandChannelsGoThroughReLU6AndTheDepthwiseConv) {
  // expand Conv -> Clip(0, 6) -> depthwise Conv (bias: BatchNorm folded) -> Clip -> project Conv:
  // the expand's channels, the depthwise filters and biases go together.
  nn::GraphModule m(io::load_onnx_graph(test::model_file("mobilenet_v2")));
  prune_once(m, {.pattern = "channel", .target_sparsity = 0.5});
  ShrinkReport r;
  const nn::Graph shrunk = shrink_pruned(m.export_graph(), &r);
  int expand = 0;
  for (const auto& l : r.layers) {
    if (l.node.find("conv.0.0/Conv") == std::string::npos) continue;
    ++expand;
    EXPECT_EQ(l.after * 2, l.before) << l.node;
  }
  EXPECT_GE(expand, 15);  // every block with an expansion (features.2 to .17)
  int depthwise = 0;
  for (const auto& n : shrunk.nodes) {
    if (n.op_type != "Conv" || n.attrs->i("group", 1) == 1) continue;
    const Tensor& w = shrunk.initializers.at(n.inputs[1]);
    EXPECT_EQ(n.attrs->i("group"), w.dim(0)) << n.name;
    EXPECT_EQ(shrunk.initializers.at(n.inputs[2]).numel(), w.dim(0)) << n.name;
    depthwise += n.name.find("conv.1.0/Conv") != std::string::npos;
  }
  EXPECT_GE(depthwise, 15);
  EXPECT_LT(r.parameters_after * 10, r.parameters_before * 8);
  Generator rng(11);
  expect_same_model(m, shrunk, test::random_tensor({4, 3, 32, 32}, rng));
}

TEST(ChannelPruning, ClipCarriesChannelsOnlyWhenItsRangeHoldsZero) {
  for (const double lo : {0.0, 1.0}) {  // Clip(x, 1, 6) maps a zero channel to ones
    nn::Graph g = test::conv_bn_graph();
    for (auto& n : g.nodes) {
      if (n.op_type != "Relu") continue;
      n.op_type = "Clip";
      g.initializers[n.name + "_min"] = Tensor::scalar(lo);
      g.initializers[n.name + "_max"] = Tensor::scalar(6.0);
      n.inputs = {n.inputs[0], n.name + "_min", n.name + "_max"};
    }
    for (const auto& w : find_prunable_weights(g)) {
      if (w.weight != "conv1.weight") continue;
      if (lo == 0)
        EXPECT_EQ(w.channel_problem, "");
      else
        EXPECT_NE(w.channel_problem.find("Clip"), std::string::npos) << w.channel_problem;
    }
  }
}

TEST(HeadPruning, FindsTheTransformersAttentionBlocks) {
  const nn::Graph g = io::load_onnx_graph(test::model_file("transformer"));
  const auto blocks = find_attention_blocks(g);
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(blocks[0].heads, 4);
  EXPECT_EQ(blocks[0].head_dim, 32);
  EXPECT_EQ(blocks[0].q_weight, "layers.0.q.weight");
  EXPECT_EQ(blocks[0].k_bias, "layers.0.k.bias");
  EXPECT_EQ(blocks[1].o_weight, "layers.1.proj.weight");
  EXPECT_TRUE(find_attention_blocks(io::load_onnx_graph(test::model_file("cnn"))).empty());
}

TEST(HeadPruning, ShrunkTransformerEqualsTheMaskedModelInOrt) {
  nn::GraphModule m(io::load_onnx_graph(test::model_file("transformer")));
  const auto report = prune_once(m, {.pattern = "head", .target_sparsity = 0.5});
  ASSERT_EQ(report.size(), 2u);
  for (const auto& l : report) EXPECT_DOUBLE_EQ(l.sparsity, 0.5) << l.weight;
  ShrinkReport r;
  const nn::Graph shrunk = shrink_pruned(m.export_graph(), &r);
  ASSERT_EQ(r.layers.size(), 2u);
  EXPECT_EQ(r.layers[0].before, 4);
  EXPECT_EQ(r.layers[0].after, 2);
  EXPECT_EQ(shrunk.initializers.at("layers.0.q.weight").shape(), (Shape{128, 64}));
  EXPECT_EQ(shrunk.initializers.at("layers.1.proj.weight").shape(), (Shape{64, 128}));
  Generator rng(10);
  expect_same_model(m, shrunk, test::random_tensor({4, 64, 16}, rng));
}

TEST(ChannelPruning, ZeroChannelsThatCannotGoAreNoted) {
  nn::Graph g = test::mlp_graph(8, 16, 4);
  for (int64_t k = 0; k < 16; ++k)
    g.initializers["fc2.weight"].data<float>()[k] = 0;  // output row 0
  g.initializers["fc2.bias"].data<float>()[0] = 0;
  ShrinkReport r;
  const nn::Graph same = shrink_pruned(g, &r);
  EXPECT_TRUE(r.layers.empty());
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_NE(r.notes[0].find("graph output"), std::string::npos) << r.notes[0];
  EXPECT_EQ(same.initializers.at("fc2.weight").shape(), (Shape{4, 16}));
  EXPECT_EQ(r.parameters_after, r.parameters_before);
  // The channel pattern does not select such a layer (its channels could not be removed).
  nn::GraphModule m(test::mlp_graph(8, 16, 4));
  const auto rep = prune_once(m, {.pattern = "channel", .target_sparsity = 0.5});
  for (const auto& l : rep) {
    if (l.weight == "fc2.weight") {
      EXPECT_NE(l.skipped.find("graph output"), std::string::npos);
    }
  }
}
