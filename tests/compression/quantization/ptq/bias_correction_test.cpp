// Empirical bias correction (bias_correction.h): after static quantization with coarse
// weights, the per-channel mean error of a layer's output against the float layer, on
// held-out data, drops; a layer without a bias gets one; the float reference is not moved;
// it refuses a float model.
#include <tamp/compression/quantization/ptq/bias_correction.h>
#include <tamp/compression/quantization/ptq/static_quantization.h>
#include <tamp/nn/init.h>

#include "compression/quantization/quant_test_support.h"

#include <cmath>

namespace tamp::test {
namespace {

using namespace compression;

// x [N, 8, 6, 6] -> Conv(8 -> 16, 3x3, pad 1) -> y; `bias` or none.
nn::Graph one_conv(bool bias) {
  Generator rng(3);
  nn::Graph g;
  g.inputs.push_back(
      {"x",
       DType::kFloat32,
       {nn::Dim::symbolic("batch"), nn::Dim::of(8), nn::Dim::of(6), nn::Dim::of(6)}});
  g.initializers["w"] = nn::init::uniform({16, 8, 3, 3}, -1, 1, rng);
  std::vector<std::string> in{"x", "w"};
  if (bias) {
    g.initializers["b"] = nn::init::uniform({16}, -0.5, 0.5, rng);
    in.push_back("b");
  }
  g.nodes.push_back({"conv",
                     "Conv",
                     "",
                     in,
                     {"y"},
                     nn::attrs_with({{"pads", std::vector<int64_t>{1, 1, 1, 1}}})});
  g.outputs.push_back({"y", DType::kFloat32, {}});
  return g;
}

// Inputs with a positive mean, so the weights' rounding error does not average out.
std::shared_ptr<nn::TensorDataset> inputs(int64_t n, uint64_t seed) {
  Generator rng(seed);
  return std::make_shared<nn::TensorDataset>(nn::init::uniform({n, 8, 6, 6}, 0, 2, rng),
                                             Tensor::zeros({n}, DType::kInt64));
}

// Per-tensor 4-bit weights: a large, channel-dependent rounding bias.
QuantizerOptions coarse() {
  QuantizerOptions o;
  o.weights.bits = 4;
  o.weights.per_channel = false;
  return o;
}

// Mean over output channels of |mean over data of (quantized - float)|.
double mean_channel_error(nn::GraphModule& quantized, nn::GraphModule& reference, const Tensor& x) {
  const Tensor yq = tamp_logits(quantized, x), yf = tamp_logits(reference, x);
  const int64_t n = yq.dim(0), c = yq.dim(1), inner = yq.numel() / (n * c);
  double total = 0;
  for (int64_t ch = 0; ch < c; ++ch) {
    double s = 0;
    for (int64_t b = 0; b < n; ++b) {
      for (int64_t k = 0; k < inner; ++k)
        s +=
            yq.data<float>()[(b * c + ch) * inner + k] - yf.data<float>()[(b * c + ch) * inner + k];
    }
    total += std::fabs(s / static_cast<double>(n * inner));
  }
  return total / static_cast<double>(c);
}

struct Quantized {
  std::unique_ptr<nn::GraphModule> model;
  std::shared_ptr<BiasCorrection> correction;
};

Quantized quantize(const nn::Graph& g, bool correct) {
  Quantized q{std::make_unique<nn::GraphModule>(g), nullptr};
  std::vector<std::shared_ptr<Component>> components{
      std::make_shared<StaticQuantization>(coarse())};
  if (correct) {
    BiasCorrectionOptions o;
    o.batches = 4;
    q.correction = std::make_shared<BiasCorrection>(o);
    components.push_back(q.correction);
  }
  TrainOptions o;
  o.train = inputs(256, 1);
  o.batch_size = 32;
  o.calibration_batches = 8;
  Trainer(*q.model, components, o).run();
  return q;
}

TEST(BiasCorrection, ReducesTheMeanOutputErrorOnHeldOutData) {
  for (bool bias : {true, false}) {
    SCOPED_TRACE(bias ? "with a bias" : "without a bias");
    const nn::Graph g = one_conv(bias);
    nn::GraphModule reference(g);
    Quantized plain = quantize(g, false), corrected = quantize(g, true);
    const Tensor held_out = inputs(128, 99)->x();
    const double before = mean_channel_error(*plain.model, reference, held_out);
    const double after = mean_channel_error(*corrected.model, reference, held_out);
    EXPECT_GT(before, 0.05);  // 4-bit per-tensor weights do shift the means
    EXPECT_LT(after, 0.2 * before) << "before " << before << ", after " << after;
    ASSERT_EQ(corrected.correction->report().size(), 1u);
    EXPECT_EQ(corrected.correction->report()[0].node, "conv");
    EXPECT_GT(corrected.correction->report()[0].mean_shift, 0);
    const nn::Node* conv = corrected.model->graph().find_node("conv");
    ASSERT_TRUE(conv && conv->inputs.size() == 3 && !conv->inputs[2].empty());
    // The float reference model keeps its own bias.
    if (bias) EXPECT_EQ(reference.parameter("b").value().at(0), g.initializers.at("b").at(0));
  }
}

TEST(BiasCorrection, TheExportCarriesTheCorrectionAndOnnxRuntimeAgrees) {
  Quantized q = quantize(one_conv(true), true);
  const nn::Graph exported = lower_quantized(q.model->export_graph(), QuantFormat::kQdq);
  TempDir dir;
  const Tensor x = inputs(16, 5)->x();
  const Tensor ours = tamp_logits(*q.model, x), theirs = ort_logits(exported, x, dir, "bc.onnx");
  ASSERT_EQ(ours.shape(), theirs.shape());
  // Within one output quantization step.
  double diff = 0, range = 0;
  for (int64_t i = 0; i < ours.numel(); ++i) {
    diff = std::max(diff, std::fabs(double(ours.at(i)) - theirs.at(i)));
    range = std::max(range, std::fabs(double(ours.at(i))));
  }
  EXPECT_LE(diff, range / 100);
}

TEST(BiasCorrection, RefusesAFloatModel) {
  nn::GraphModule m(one_conv(true));
  BiasCorrection bc;
  bc.attach(m, nn::local_collective());
  EXPECT_THROW(bc.finalize(m), Error);
  BiasCorrectionOptions none;
  none.batches = 0;
  EXPECT_THROW(BiasCorrection{none}, Error);
}

}  // namespace
}  // namespace tamp::test
