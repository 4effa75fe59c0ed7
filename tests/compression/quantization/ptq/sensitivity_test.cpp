// Per-layer sensitivity ranks a deliberately fragile layer first, and a bf16 fallback layer
// exports to a QDQ model ONNX Runtime runs as tamp does.
#include <tamp/compression/quantization/ptq/sensitivity.h>

#include "compression/quantization/ptq_recovery_support.h"
#include "compression/quantization/quant_test_support.h"

namespace tamp {
namespace {

using namespace compression;

Tensor images(const nn::Dataset& d, int64_t n) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = i;
  return d.get_batch(idx).x;
}

// Every output channel of `gemm` gets one weight (input 0) 40 times the layer's largest: each
// channel's scale grows 40-fold and its other weights round to a few levels.
std::string make_fragile(nn::Graph& g, const std::string& gemm) {
  const nn::Node* n = g.find_node(gemm);
  EXPECT_NE(n->attrs->i("transB", 0), 0);
  Tensor w = g.initializers.at(n->inputs[1]).clone();  // [N, K]
  float m = 0;
  for (int64_t i = 0; i < w.numel(); ++i) m = std::max(m, std::abs(w.data<float>()[i]));
  for (int64_t r = 0; r < w.dim(0); ++r) w.data<float>()[r * w.dim(1)] = 40 * m;
  g.initializers[n->inputs[1]] = w;
  return gemm;
}

std::vector<LayerSensitivity> sensitivity_of(const nn::Graph& g, const Tensor& calib,
                                             const Tensor& x, const Tensor& labels) {
  auto fq = test::ptq::quantized(g, calib);
  return layer_sensitivity(g, fq->export_graph(), {{{g.inputs[0].name, x}}}, {labels});
}

std::vector<std::string> gemms(const nn::Graph& g) {
  std::vector<std::string> out;
  for (const auto& n : g.nodes)
    if (n.op_type == "Gemm") out.push_back(n.name);
  return out;
}

TEST(Sensitivity, RanksAFragileLayerFirst) {
  const auto& data = test::fashion_mnist();
  const Tensor calib = images(*data.train, 256).reshape({256, 784});
  const nn::Batch b = data.test->get_batch([] {
    std::vector<int64_t> idx(256);
    for (int64_t i = 0; i < 256; ++i) idx[static_cast<size_t>(i)] = i;
    return idx;
  }());
  const Tensor x = b.x.reshape({256, 784});
  nn::Graph g = test::load_model("mlp");
  const auto layers = gemms(g);
  ASSERT_GE(layers.size(), 2u);
  const auto before = sensitivity_of(g, calib, x, b.y);
  ASSERT_EQ(before.size(), layers.size());
  for (size_t i = 1; i < before.size(); ++i) EXPECT_GE(before[i - 1].mse, before[i].mse);
  for (const auto& l : before) EXPECT_FALSE(std::isnan(l.top1));
  // Pick a layer the intact model does not rank first, and break it.
  const std::string target = before[0].node == layers[0] ? layers[1] : layers[0];
  make_fragile(g, target);
  const auto after = sensitivity_of(g, calib, x, b.y);
  EXPECT_EQ(after[0].node, target);
  EXPECT_GT(after[0].mse, 3 * after[1].mse);
  EXPECT_THROW(isolate_layer(g, "no_such_node"), Error);
}

TEST(Sensitivity, Bf16FallbackLayerExportsAndRunsInOrt) {
  const auto& data = test::fashion_mnist();
  const Tensor calib = images(*data.train, 128), x = images(*data.test, 64);
  const nn::Graph g = test::load_model("cnn_fmnist");
  const std::string fallback = gemms(g).at(0);
  QuantizerOptions o;
  o.exclude = {fallback};
  auto m = test::ptq::quantized(g, calib, o);
  nn::Graph fq = m->export_graph();
  nn::Graph quantized_before_rounding = fq;
  for (auto& [name, t] : quantized_before_rounding.initializers) t = t.clone();
  round_weights_bf16(fq, {fallback});
  m->set_graph(fq);
  nn::Graph qdq = lower_quantized(m->export_graph(), QuantFormat::kQdq);
  store_weights_bf16(qdq, {fallback});
  int casts = 0;
  for (const auto& n : qdq.nodes) casts += n.op_type == "Cast";
  EXPECT_GE(casts, 1);
  const nn::Node* layer = qdq.find_node(fallback);
  ASSERT_NE(layer, nullptr);
  const int w = qdq.producer(layer->inputs[1]);
  ASSERT_GE(w, 0);
  EXPECT_EQ(qdq.nodes[static_cast<size_t>(w)].op_type, "Cast");
  EXPECT_EQ(qdq.initializers.at(qdq.nodes[static_cast<size_t>(w)].inputs[0]).dtype(),
            DType::kBFloat16);
  test::TempDir dir;
  const Tensor ort = test::ort_logits(qdq, x, dir, "cnn_bf16_fallback.onnx");
  const Tensor ours = test::tamp_logits(*m, x);
  // Within one output quantization step of what tamp simulated, in ORT and in tamp's own run
  // of the file (the Cast reads the bf16 initializer).
  const double step = test::ptq::output_step(qdq);
  EXPECT_LE(test::ptq::argmax_differences(ort, ours), 1);
  EXPECT_LE(test::ptq::max_abs_diff(ort, ours), 1.0001 * step);
  EXPECT_LE(test::ptq::max_abs_diff(test::ptq::run(qdq, x), ours), 1.0001 * step);
  // The fallback layer computes with bf16 weights: not what the float32 weights give.
  nn::Graph float_weights = m->export_graph();
  float_weights.initializers = quantized_before_rounding.initializers;
  EXPECT_GT(test::ptq::max_abs_diff(test::ptq::run(float_weights, x), ours), 0.0);
}

}  // namespace
}  // namespace tamp
