// AdaRound: learned rounding reconstructs a conv and a linear layer's output better than
// rounding to nearest, stays on the quantization grid, and a CNN quantized with it exports to
// QDQ that ONNX Runtime runs as tamp does.
#include <tamp/compression/quantization/fake_quant_graph.h>
#include <tamp/compression/quantization/observers/observer.h>
#include <tamp/compression/quantization/ptq/adaround.h>

#include "compression/quantization/ptq_recovery_support.h"
#include "compression/quantization/quant_test_support.h"

namespace tamp {
namespace {

using namespace compression;
using test::ptq::randn;

// Learns one layer's rounding on x; checks the grid and returns the report.
AdaRoundLayer learn(const nn::Node& node, const Tensor& w, int axis, const Tensor& x,
                    const std::vector<Tensor>& inputs) {
  QuantSpec spec = qint8_per_channel;
  spec.axis = axis;
  const QuantParams p = weight_qparams(spec, w);
  AdaRoundLayer r;
  const Tensor learned =
      adaround_weight(node, w, p.scale, p.zero_point, axis, spec.quant_min(), spec.quant_max(), x,
                      inputs, {.steps = 400, .batch = 32, .seed = 1}, &r);
  int64_t inner = 1;
  for (int d = axis + 1; d < w.rank(); ++d) inner *= w.dim(d);
  for (int64_t i = 0; i < w.numel(); ++i) {
    const float s = p.scale.data<float>()[(i / inner) % p.scale.numel()];
    const float q = learned.data<float>()[i] / s;
    EXPECT_NEAR(q, std::nearbyint(q), 1e-3) << "off the grid at " << i;
    EXPECT_LE(std::abs(q - w.data<float>()[i] / s), 1.0f + 1e-3f)
        << "moved more than one step at " << i;
    EXPECT_GE(q, spec.quant_min() - 1e-3);
    EXPECT_LE(q, spec.quant_max() + 1e-3);
  }
  return r;
}

TEST(AdaRound, ConvReconstructsBetterThanNearest) {
  Attributes a;
  a.set("kernel_shape", std::vector<int64_t>{3, 3});
  a.set("pads", std::vector<int64_t>{1, 1, 1, 1});
  const nn::Node conv{"conv", "Conv", "", {"x", "w", "b"}, {"y"}, nn::attrs_with(a)};
  // Fashion-MNIST images in 4 correlated channels: smooth, correlated inputs are where the
  // rounding choice matters (for white noise, rounding to nearest is close to optimal).
  const Tensor img = test::fashion_mnist().train->slice(0, 128)->x();  // (128, 1, 28, 28)
  Tensor x = Tensor::empty({128, 4, 28, 28});
  const Tensor noise = randn({128, 4, 28, 28}, 3, 0.05f);
  for (int64_t n = 0; n < 128; ++n) {
    for (int64_t c = 0; c < 4; ++c) {
      for (int64_t i = 0; i < 784; ++i) {
        const int64_t at = (n * 4 + c) * 784 + i;
        x.data<float>()[at] =
            (1.0f + 0.3f * static_cast<float>(c)) * img.data<float>()[n * 784 + i] +
            noise.data<float>()[at];
      }
    }
  }
  const Tensor w = randn({8, 4, 3, 3}, 1, 0.2f), b = randn({8}, 2, 0.1f);
  const AdaRoundLayer r = learn(conv, w, 0, x, {Tensor(), Tensor(), b});
  EXPECT_GT(r.changed, 0);
  EXPECT_FALSE(r.kept_nearest);
  EXPECT_LT(r.mse_adaround, 0.8 * r.mse_nearest)
      << r.mse_adaround << " vs nearest " << r.mse_nearest;
}

TEST(AdaRound, LinearReconstructsBetterThanNearest) {
  Attributes a;
  a.set("transB", int64_t{1});
  const nn::Node gemm{"fc", "Gemm", "", {"x", "w", "b"}, {"y"}, nn::attrs_with(a)};
  // Inputs of rank 8 plus a little noise: strongly correlated features.
  const Tensor z = randn({512, 8}, 6), mix = randn({8, 64}, 8, 0.5f),
               noise = randn({512, 64}, 9, 0.05f);
  Tensor x = noise.clone();
  for (int64_t r = 0; r < 512; ++r) {
    for (int64_t k = 0; k < 64; ++k) {
      for (int64_t j = 0; j < 8; ++j)
        x.data<float>()[r * 64 + k] += z.data<float>()[r * 8 + j] * mix.data<float>()[j * 64 + k];
    }
  }
  const Tensor w = randn({16, 64}, 4, 0.1f), b = randn({16}, 5, 0.1f);
  const AdaRoundLayer r = learn(gemm, w, 0, x, {Tensor(), Tensor(), b});
  EXPECT_LT(r.mse_adaround, 0.8 * r.mse_nearest)
      << r.mse_adaround << " vs nearest " << r.mse_nearest;
  // MatMul weights [K, N] are quantized per column (axis 1).
  const nn::Node matmul{"mm", "MatMul", "", {"x", "w"}, {"y"}};
  const Tensor wk = randn({64, 16}, 7, 0.1f);
  const AdaRoundLayer m = learn(matmul, wk, 1, x, {});
  EXPECT_LT(m.mse_adaround, 0.8 * m.mse_nearest);
}

TEST(AdaRound, NeedsAQuantizedModel) {
  nn::GraphModule m(test::load_model("cnn"));
  nn::Collective none;
  AdaRound ada;
  EXPECT_THROW(ada.attach(m, none), Error);
}

TEST(AdaRound, CnnExportRunsInOrtAsInTamp) {
  const auto& data = test::fashion_mnist();
  const Tensor calib = data.train
                           ->get_batch([] {
                             std::vector<int64_t> idx(128);
                             for (int64_t i = 0; i < 128; ++i) idx[static_cast<size_t>(i)] = i;
                             return idx;
                           }())
                           .x;
  nn::Graph g = test::load_model("cnn_fmnist");
  auto m = test::ptq::quantized(g, calib);
  const nn::Graph rtn = m->export_graph();
  auto ada = std::make_shared<AdaRound>(AdaRoundOptions{.steps = 60, .batch = 16});
  test::ptq::calibrate(*m, {ada}, calib);
  ASSERT_GE(ada->layers().size(), 3u);  // two Convs and the Gemms
  int64_t changed = 0;
  for (const auto& l : ada->layers()) {
    changed += l.changed;
    EXPECT_LE(l.mse_adaround, l.mse_nearest) << l.node;
  }
  EXPECT_GT(changed, 0);
  EXPECT_TRUE(std::any_of(ada->layers().begin(), ada->layers().end(),
                          [](const auto& l) { return !l.kept_nearest; }));

  std::vector<int64_t> idx(200);
  for (int64_t i = 0; i < 200; ++i) idx[static_cast<size_t>(i)] = i;
  const nn::Batch test_batch = data.test->get_batch(idx);
  test::TempDir dir;
  const nn::Graph qdq = lower_quantized(m->export_graph(), QuantFormat::kQdq);
  const Tensor ort = test::ort_logits(qdq, test_batch.x, dir, "cnn_adaround.onnx");
  const Tensor ours = test::tamp_logits(*m, test_batch.x);
  EXPECT_LE(test::ptq::argmax_differences(ort, ours), 1);
  EXPECT_LE(test::ptq::max_abs_diff(ort, ours), 1.0001 * test::ptq::output_step(qdq));
  // The learned weights are what the file holds: it differs from round-to-nearest's.
  const Tensor ort_rtn =
      test::ort_logits(lower_quantized(rtn, QuantFormat::kQdq), test_batch.x, dir, "cnn_rtn.onnx");
  EXPECT_GT(test::ptq::relative_max_error(ort, ort_rtn), 1e-4);
}

}  // namespace
}  // namespace tamp
