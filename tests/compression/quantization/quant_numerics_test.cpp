// FakeQuantize against ONNX Runtime's QuantizeLinear -> DequantizeLinear bit for bit (ties,
// saturation, per channel); observers on known distributions; power-of-two scales;
// BatchNorm folding against the unfolded graph; static PTQ on a small conv net in ORT; and
// the bad inputs the issue lists, each a clear error.
#include <tamp/autograd/apply.h>
#include <tamp/compression/quantization/batch_norm_folding.h>
#include <tamp/compression/quantization/fake_quant_graph.h>
#include <tamp/compression/quantization/observers/minmax_observer.h>
#include <tamp/compression/quantization/observers/observer.h>
#include <tamp/compression/quantization/ptq/static_quantization.h>
#include <tamp/compression/quantization/qat/qat.h>
#include <tamp/nn/init.h>

#include "compression/pruning/prune_test_support.h"
#include "quant_test_support.h"
#include "support/expect.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace tamp::test {
namespace {

using namespace compression;

// x -> FakeQuantize(scale, zp, [qmin, qmax], axis) -> y, and the same as ONNX
// QuantizeLinear -> DequantizeLinear with zero points of `storage` type.
struct QdqPair {
  nn::Graph fake, onnx;
};

QdqPair qdq_pair(const Shape& shape, const Tensor& scale, const Tensor& zp, int64_t qmin,
                 int64_t qmax, int axis) {
  QdqPair p;
  std::vector<nn::Dim> dims;
  for (int64_t d : shape) dims.push_back(nn::Dim::of(d));
  for (nn::Graph* g : {&p.fake, &p.onnx}) {
    g->inputs.push_back({"x", DType::kFloat32, dims});
    g->outputs.push_back({"y", DType::kFloat32, dims});
    g->initializers["scale"] = scale;
  }
  p.fake.opsets["tamp"] = 1;
  p.fake.initializers["zp"] = zp;
  Attributes a{{"quant_min", qmin}, {"quant_max", qmax}};
  if (scale.numel() > 1) a.set("axis", static_cast<int64_t>(axis));
  p.fake.nodes.push_back(
      {"fq", "FakeQuantize", "tamp", {"x", "scale", "zp"}, {"y"}, nn::attrs_with(a)});
  Tensor zq(zp.shape(), qmin < 0 ? DType::kInt8 : DType::kUInt8);
  for (int64_t i = 0; i < zp.numel(); ++i) {
    if (qmin < 0)
      zq.data<int8_t>()[i] = static_cast<int8_t>(zp.at(i));
    else
      zq.data<uint8_t>()[i] = static_cast<uint8_t>(zp.at(i));
  }
  p.onnx.initializers["zp"] = zq;
  Attributes b;
  if (scale.numel() > 1) b.set("axis", static_cast<int64_t>(axis));
  p.onnx.nodes.push_back(
      {"q", "QuantizeLinear", "", {"x", "scale", "zp"}, {"xq"}, nn::attrs_with(b)});
  p.onnx.nodes.push_back(
      {"dq", "DequantizeLinear", "", {"xq", "scale", "zp"}, {"y"}, nn::attrs_with(b)});
  return p;
}

void expect_bit_exact_with_ort(const QdqPair& p, const Tensor& x) {
  nn::GraphModule m(p.fake);
  NoGradGuard no_grad;
  const Tensor mine = m.forward({{"x", Variable(x)}}).at("y").value();
  TempDir dir;
  io::save_onnx_graph(p.onnx, dir.file("qdq.onnx"));
  const Tensor ort = run_ort(dir.file("qdq.onnx"), {{"x", x}}).at("y");
  ASSERT_EQ(mine.shape(), ort.shape());
  int64_t differ = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (std::memcmp(mine.data<float>() + i, ort.data<float>() + i, sizeof(float)) != 0 &&
        ++differ <= 5) {
      ADD_FAILURE() << "x[" << i << "] = " << x.at(i) << ": tamp " << mine.at(i) << ", ORT "
                    << ort.at(i);
    }
  }
  EXPECT_EQ(differ, 0);
}

TEST(FakeQuantizeNumerics, PerTensorUint8TiesAndSaturationBitExactWithOrt) {
  // A power-of-two scale makes (k + 0.5) s an exact tie: round half to even decides.
  const float s = 0.0625f;
  const int64_t zp = 131;
  std::vector<float> xs;
  for (int k = -140; k <= 140; ++k)
    xs.push_back((static_cast<float>(k) + 0.5f) * s);  // ties, both signs
  for (float v : {-1e6f, -100.f, -8.25f, 7.97f, 8.0f, 100.f, 1e6f, 0.f, -0.f})
    xs.push_back(v);  // saturation
  Generator rng(11);
  for (int i = 0; i < 2000; ++i) xs.push_back(static_cast<float>(rng.uniform() * 24 - 12));
  const Tensor x = Tensor::from_vector<float>({static_cast<int64_t>(xs.size())}, xs);
  expect_bit_exact_with_ort(
      qdq_pair(x.shape(), Tensor::scalar(s), Tensor::scalar(static_cast<double>(zp)), 0, 255, 0),
      x);
  // An arbitrary scale: x / s computed as ORT computes it.
  expect_bit_exact_with_ort(
      qdq_pair(x.shape(), Tensor::scalar(0.0371f), Tensor::scalar(97.0), 0, 255, 0), x);
}

TEST(FakeQuantizeNumerics, PerChannelInt8BitExactWithOrt) {
  Generator rng(12);
  const int64_t c = 5;
  Tensor scale = Tensor::empty({c}), zp = Tensor::zeros({c});
  for (int64_t i = 0; i < c; ++i)
    scale.data<float>()[i] = static_cast<float>(0.003 + 0.02 * rng.uniform());
  scale.data<float>()[0] = 0.125f;  // exact ties in channel 0
  Tensor x = Tensor::empty({3, c, 4, 7});
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t ch = (i / 28) % c;
    const double r = rng.uniform();
    x.data<float>()[i] =
        ch == 0 ? static_cast<float>((std::floor(r * 300) - 150 + 0.5) * 0.125)
                : static_cast<float>((r * 2 - 1) * 3.5);  // beyond 127 s for the small scales
  }
  expect_bit_exact_with_ort(qdq_pair(x.shape(), scale, zp, -128, 127, 1), x);
}

// The straight-through gradient with frozen scales (the fast path) equals the X gradient
// computed next to LSQ's scale and zero-point gradients, per tensor and per channel.
TEST(FakeQuantizeNumerics, FrozenScalePathGivesTheSameXGradient) {
  Generator rng(13);
  for (bool per_channel : {false, true}) {
    Tensor x = Tensor::empty({4, 3, 5, 6});
    for (int64_t i = 0; i < x.numel(); ++i)
      x.data<float>()[i] = static_cast<float>(rng.uniform() * 6 - 3);
    const Tensor scale = per_channel ? Tensor::from_vector<float>({3}, {0.01f, 0.02f, 0.005f})
                                     : Tensor::scalar(0.015f);
    const Tensor zp =
        per_channel ? Tensor::from_vector<float>({3}, {10, 128, 200}) : Tensor::scalar(90.0);
    Tensor g = Tensor::empty(x.shape());
    for (int64_t i = 0; i < g.numel(); ++i)
      g.data<float>()[i] = static_cast<float>(rng.uniform() - 0.5);
    Attributes a{{"quant_min", int64_t{0}}, {"quant_max", int64_t{255}}};
    if (per_channel) a.set("axis", int64_t{1});
    const OpDef& op = OpRegistry::builtin().get("tamp", "FakeQuantize", 1);
    Tensor dx[2];
    for (int learn = 0; learn < 2; ++learn) {
      Variable vx(x.clone()), vs(scale.clone()), vz(zp.clone());
      vx.set_requires_grad(true);
      vs.set_requires_grad(learn == 1);
      Variable y = apply(op, {vx, vs, vz}, std::make_shared<Attributes>(a)).at(0);
      Variable loss =
          apply1("ReduceSum", {apply1("Mul", {y, Variable(g)})}, {{"keepdims", int64_t{0}}});
      loss.backward();
      dx[learn] = vx.grad();
    }
    int64_t zeros = 0;
    for (int64_t i = 0; i < x.numel(); ++i) {
      ASSERT_EQ(dx[0].at(i), dx[1].at(i)) << i;
      zeros += dx[0].at(i) == 0;
    }
    EXPECT_GT(zeros, 10) << per_channel;  // some values clip
    EXPECT_LT(zeros, x.numel() / 2) << per_channel;
  }
}

TEST(Observers, RangesOnKnownData) {
  // 10000 values uniform in [-1, 1] and one outlier at 50.
  Generator rng(3);
  Tensor x = Tensor::empty({10001});
  for (int64_t i = 0; i < 10000; ++i)
    x.data<float>()[i] = static_cast<float>(rng.uniform() * 2 - 1);
  x.data<float>()[10000] = 50;
  auto range_of = [&](ObserverKind kind) {
    QuantSpec s = quint8;
    s.observer.kind = kind;
    s.observer.percentile = 99.9;
    auto obs = make_observer(s);
    obs->observe(x);
    auto [lo, hi] = obs->range();
    return std::pair<double, double>(lo.item(), hi.item());
  };
  const auto mm = range_of(ObserverKind::kMinMax);
  EXPECT_NEAR(mm.first, -1, 1e-3);
  EXPECT_EQ(mm.second, 50);
  // Percentile and entropy clip the outlier: the range ends near 1, not 50.
  for (ObserverKind k : {ObserverKind::kPercentile, ObserverKind::kEntropy}) {
    const auto r = range_of(k);
    EXPECT_LT(r.second, 5) << observer_name(k);
    EXPECT_GT(r.second, 0.8) << observer_name(k);
    EXPECT_LT(r.first, -0.8) << observer_name(k);
  }
  // MSE keeps one far outlier (clipping it costs 49^2, more than the coarser grid costs the
  // rest) but its range never quantizes worse than min-max's.
  auto quant_mse = [&](std::pair<double, double> r) {
    const QuantParams p = choose_qparams(quint8, Tensor::scalar(r.first), Tensor::scalar(r.second));
    const double sc = p.scale.item(), zp = p.zero_point.item();
    double e = 0;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double q = std::clamp(std::nearbyint(x.at(i) / sc) + zp, 0.0, 255.0);
      e += std::pow(sc * (q - zp) - x.at(i), 2);
    }
    return e;
  };
  const auto mse = range_of(ObserverKind::kMse);
  EXPECT_LE(quant_mse(mse), quant_mse(mm) * 1.001);
  EXPECT_GT(mse.second, 0.8);
  // With a moderate tail (2 % of the values spread to 4) MSE clips inside it.
  for (int64_t i = 0; i < 200; ++i) x.data<float>()[i] = static_cast<float>(1 + 3 * rng.uniform());
  x.data<float>()[10000] = 4;
  const auto mse_tail = range_of(ObserverKind::kMse);
  EXPECT_LT(mse_tail.second, 4);
  EXPECT_LE(quant_mse(mse_tail), quant_mse(range_of(ObserverKind::kMinMax)) * 1.001);

  // A ReLU output: half the values exactly 0, the rest |N(0, 1)| (a thin tail, as the CNN's
  // activations have). Entropy clips a little of the tail; it clipped to about a fifth of the
  // maximum while the zero spike took part in the KL comparison.
  {
    Tensor relu = nn::init::normal({20000}, 0, 1, rng);
    for (int64_t i = 0; i < relu.numel(); ++i) {
      float& v = relu.data<float>()[i];
      v = i % 2 ? std::abs(v) : 0.0f;
    }
    QuantSpec s = quint8;
    s.observer.kind = ObserverKind::kEntropy;
    auto obs = make_observer(s);
    obs->observe(relu);
    const double amax = channel_min_max(relu, false, 0).second.item();
    EXPECT_EQ(obs->range().first.item(), 0);
    EXPECT_GT(obs->range().second.item(), 0.6 * amax) << "max " << amax;
    EXPECT_LE(obs->range().second.item(), amax);
  }

  // Moving average: m = (1 - c) m + c batch_min, starting from the first batch.
  QuantSpec ma = quint8;
  ma.observer.averaging_constant = 0.25;
  MovingAverageMinMaxObserver obs(ma);
  obs.observe(Tensor::from_vector<float>({2}, {-2, 4}));
  obs.observe(Tensor::from_vector<float>({2}, {-6, 8}));
  EXPECT_FLOAT_EQ(obs.range().first.item(), -3.0f);
  EXPECT_FLOAT_EQ(obs.range().second.item(), 5.0f);
  obs.freeze();
  obs.observe(Tensor::from_vector<float>({2}, {-100, 100}));
  EXPECT_FLOAT_EQ(obs.range().second.item(), 5.0f);

  // Per channel along axis 1.
  MinMaxObserver pc(QuantSpec{.per_channel = true, .axis = 1});
  pc.observe(Tensor::from_vector<float>({2, 3}, {1, -2, 3, -4, 5, 0.5}));
  const auto [lo, hi] = pc.range();
  EXPECT_EQ(lo.shape(), Shape({3}));
  EXPECT_EQ(std::vector<float>(lo.data<float>(), lo.data<float>() + 3),
            std::vector<float>({-4, -2, 0.5}));
  EXPECT_EQ(std::vector<float>(hi.data<float>(), hi.data<float>() + 3),
            std::vector<float>({1, 5, 3}));
}

TEST(QParams, PowerOfTwoAndZeroPoint) {
  const QuantParams p = choose_qparams(quint8, Tensor::scalar(-1.0f), Tensor::scalar(3.0f));
  EXPECT_FLOAT_EQ(p.scale.item(), 4.0f / 255);
  EXPECT_EQ(p.zero_point.item(), 64);
  QuantSpec pot = quint8;
  pot.power_of_two = true;
  const QuantParams q = choose_qparams(pot, Tensor::scalar(-1.0f), Tensor::scalar(3.0f));
  EXPECT_EQ(q.scale.item(), 1.0 / 32);  // 4/255 = 0.0157 -> 2^-5
  EXPECT_EQ(power_of_two_scale(0.3f), 0.5f);
  EXPECT_EQ(power_of_two_scale(0.25f), 0.25f);
  QuantSpec w = qint8_per_channel;
  w.power_of_two = true;
  const QuantParams r = choose_qparams(w, Tensor::from_vector<float>({2}, {-0.9f, -3}),
                                       Tensor::from_vector<float>({2}, {0.5f, 1}));
  EXPECT_EQ(r.scale.at(0), 1.0 / 128);
  EXPECT_EQ(r.scale.at(1), 1.0 / 32);
  EXPECT_EQ(r.zero_point.at(0), 0);
}

TEST(BatchNormFolding, FoldedGraphComputesWhatConvBnComputed) {
  nn::Graph g = conv_bn_graph();
  nn::Graph folded = g;
  EXPECT_EQ(fold_batch_norms(folded), 1);
  for (const auto& n : folded.nodes) EXPECT_NE(n.op_type, "BatchNormalization");
  Generator rng(9);
  const Tensor x = random_tensor({4, 1, 12, 12}, rng);
  nn::GraphModule a(g), b(folded);
  const Tensor ya = tamp_logits(a, x), yb = tamp_logits(b, x);
  for (int64_t i = 0; i < ya.numel(); ++i) EXPECT_NEAR(ya.at(i), yb.at(i), 1e-5);
  // Excluding the Conv keeps its BatchNorm.
  nn::Graph kept = g;
  EXPECT_EQ(fold_batch_norms(kept, {"conv1"}), 0);
}

// Static PTQ of the small conv net with each observer: the QDQ export runs in ORT, fused, and
// agrees with tamp's simulated model within one output step. With the mse observer fc2 is
// excluded and stays a float Gemm.
TEST(StaticQuantization, EveryObserverExportsWhatTampSimulates) {
  const auto data = synthetic_data({1, 12, 12}, 256, 10);
  for (ObserverKind kind : {ObserverKind::kMinMax, ObserverKind::kPercentile,
                            ObserverKind::kEntropy, ObserverKind::kMse}) {
    const bool exclude = kind == ObserverKind::kMse;
    nn::GraphModule m(conv_bn_graph());
    QuantizerOptions o;
    o.activations.observer.kind = kind;
    if (exclude) o.exclude = {"fc2"};
    auto sq = std::make_shared<StaticQuantization>(o);
    Trainer(m, {sq}, {.train = data, .batch_size = 64, .calibration_batches = 2}).run();
    EXPECT_EQ(sq->folded_batch_norms(), 1);
    int weights = 0;
    for (const auto& s : sq->sites()) weights += s.is_weight;
    EXPECT_EQ(weights, exclude ? 3 : 4) << observer_name(kind);
    const Tensor x = data->slice(0, 64)->x();
    const Tensor sim = tamp_logits(m, x);
    const nn::Graph qdq = lower_quantized(m.export_graph(), QuantFormat::kQdq);
    TempDir dir;
    const Tensor ort = ort_logits(qdq, x, dir, "q.onnx", dir.file("opt.onnx"));
    const auto ops = op_types(dir.file("opt.onnx"));
    EXPECT_EQ(std::count(ops.begin(), ops.end(), "QLinearConv"), 2) << observer_name(kind);
    EXPECT_EQ(std::count(ops.begin(), ops.end(), "QGemm"), exclude ? 1 : 2) << observer_name(kind);
    EXPECT_EQ(std::count(ops.begin(), ops.end(), "Gemm"), exclude ? 1 : 0) << observer_name(kind);
    double diff = 0, amax = 0;
    for (int64_t i = 0; i < sim.numel(); ++i) {
      diff = std::max(diff, std::abs(sim.at(i) - ort.at(i)));
      amax = std::max(amax, std::abs(sim.at(i)));
    }
    if (exclude) {
      EXPECT_LT(diff, 0.05 * amax)
          << observer_name(kind);  // fc2 in float after one-step differences of fc1
    } else {
      EXPECT_LE(diff, m.parameter("logits_scale").value().item() * 1.0001) << observer_name(kind);
    }
  }
}

// ---- bad input: each a clear error ----

TEST(QuantizationBadInput, CalibratingWithAnEmptyDataset) {
  nn::GraphModule m(mlp_graph(8, 16, 4));
  auto empty =
      std::make_shared<nn::TensorDataset>(Tensor::empty({0, 8}), Tensor({0}, DType::kInt64));
  expect_error(
      [&] { Trainer(m, {std::make_shared<StaticQuantization>()}, {.train = empty}).run(); },
      {"calibration needs data"});
}

TEST(QuantizationBadInput, ModelWithNoQuantizableOp) {
  nn::Graph g;
  g.inputs.push_back({"input", DType::kFloat32, {nn::Dim::symbolic("batch"), nn::Dim::of(4)}});
  g.nodes.push_back({"relu", "Relu", "", {"input"}, {"logits"}});
  g.outputs.push_back({"logits", DType::kFloat32, {nn::Dim::symbolic("batch"), nn::Dim::of(4)}});
  nn::GraphModule m(g);
  QuantizationAwareTraining qat;
  expect_error([&] { qat.attach(m, nn::local_collective()); }, {"no quantizable op"});
  // Everything excluded is the same situation.
  nn::GraphModule mlp(mlp_graph(8, 16, 4));
  QuantizationAwareTraining all({.exclude = {"Gemm"}});
  expect_error([&] { all.attach(mlp, nn::local_collective()); }, {"no quantizable op"});
}

// The MLP after static PTQ, with one FakeQuantize edited.
nn::Graph calibrated_mlp() {
  nn::GraphModule m(mlp_graph(8, 16, 4));
  Trainer(m, {std::make_shared<StaticQuantization>()},
          {.train = synthetic_data({8}, 64, 4), .calibration_batches = 1})
      .run();
  return m.export_graph();
}

// QuantizeLinear saturates to the whole int8/uint8 range: a 4-bit activation cannot be written
// (4-bit weights can: export_target_test.cpp); nor can a weight range int8 cannot hold.
TEST(QuantizationBadInput, FourBitActivationAndOversizedWeightToQdq) {
  nn::Graph g = calibrated_mlp();
  for (auto& n : g.nodes) {
    if (n.op_type == "FakeQuantize" && !g.initializers.count(n.inputs[0])) {
      n.attrs = nn::attrs_with({{"quant_min", int64_t{0}}, {"quant_max", int64_t{15}}});
      break;
    }
  }
  expect_error([&] { lower_quantized(g, QuantFormat::kQdq); },
               {"an activation quantized to [0, 15] (4 bits)"});
  expect_error([&] { lower_quantized(g, QuantFormat::kQOperator); }, {"QuantizeLinear saturates"});
  nn::Graph w = calibrated_mlp();
  for (auto& n : w.nodes) {
    if (n.op_type == "FakeQuantize" && n.inputs[0] == "fc1.weight") {
      n.attrs = nn::attrs_with(
          {{"axis", int64_t{0}}, {"quant_min", int64_t{-200}}, {"quant_max", int64_t{200}}});
    }
  }
  expect_error([&] { lower_quantized(w, QuantFormat::kQdq); }, {"more than 8 bits"});
}

TEST(QuantizationBadInput, ZeroAndNanScales) {
  for (float bad : {0.0f, std::numeric_limits<float>::quiet_NaN(), -0.5f}) {
    nn::Graph g = calibrated_mlp();
    std::string act_scale;
    for (const auto& s : find_fake_quantize(g))
      if (!s.is_weight) act_scale = s.scale;
    ASSERT_FALSE(act_scale.empty());
    g.initializers[act_scale] = Tensor::scalar(bad);
    expect_error([&] { lower_quantized(g, QuantFormat::kQdq); },
                 {"scales must be finite and positive"});
    // The simulated model refuses it too.
    nn::GraphModule m(g);
    expect_error([&] { tamp_logits(m, Tensor::zeros({2, 8})); }, {"must be finite and positive"});
  }
  // A per-channel weight scale with a zero in it.
  nn::Graph g = calibrated_mlp();
  g.initializers.at("fc1.weight_scale").data<float>()[3] = 0;
  expect_error([&] { lower_quantized(g, QuantFormat::kQdq); }, {"scale[3] is 0"});
  // Observers and choose_qparams refuse NaN ranges.
  auto obs = make_observer(quint8);
  expect_error([&] { obs->observe(Tensor::from_vector<float>({2}, {1, std::nanf("")})); }, {"NaN"});
  expect_error([&] { choose_qparams(quint8, Tensor::scalar(std::nanf("")), Tensor::scalar(1.0f)); },
               {"not finite"});
}

TEST(QuantizationBadInput, InconsistentSpecsAndNeverCalibratedExport) {
  expect_error([] { QuantizationAwareTraining({.weights = QuantSpec{.bits = 9}}); },
               {"bits must be in 2..8"});
  expect_error(
      [] {
        QuantizationAwareTraining(
            {.activations = QuantSpec{.is_signed = false, .narrow_range = true}});
      },
      {"narrow range"});
  expect_error([] { observer_from_name("kl"); }, {"unknown observer 'kl'"});
  expect_error([] { quant_format_from_name("qlinear"); }, {"unknown quantization format"});
  // Attached but never calibrated: activations still bypassed.
  nn::GraphModule m(mlp_graph(8, 16, 4));
  QuantizationAwareTraining qat;
  qat.attach(m, nn::local_collective());
  expect_error([&] { lower_quantized(m.export_graph(), QuantFormat::kQdq); }, {"never calibrated"});
  expect_error([&] { lower_quantized(mlp_graph(8, 16, 4), QuantFormat::kQdq); },
               {"no FakeQuantize node"});
}

}  // namespace
}  // namespace tamp::test
