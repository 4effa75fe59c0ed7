// Export targets (compression/quantization/export_target.h): the weight ranges each target
// gives and accepts, the portable uint8 grid equal to the int8 one, the target recorded in the
// export and checked against the ranges, and weights of fewer bits (7-bit reduce-range, 4-bit)
// exported as int8 that ONNX Runtime runs as tamp does.
#include <tamp/compression/quantization/export_target.h>
#include <tamp/compression/quantization/fake_quant_graph.h>
#include <tamp/compression/quantization/ptq/static_quantization.h>
#include <tamp/compression/quantization/qat/qat.h>

#include "compression/pruning/prune_test_support.h"
#include "quant_test_support.h"

#include <gtest/gtest.h>

#include <set>

namespace tamp::test {
namespace {

using namespace compression;

TEST(ExportTarget, WeightRangesPerTarget) {
  const QuantSpec portable = weights_for_target(qint8_per_channel, quint8, ExportTarget::kPortable);
  EXPECT_FALSE(portable.is_signed);
  EXPECT_TRUE(portable.symmetric);
  EXPECT_EQ(portable.quant_min(), 0);
  EXPECT_EQ(portable.quant_max(), 255);
  const QuantSpec arm = weights_for_target(qint8_per_channel, quint8, ExportTarget::kArm);
  EXPECT_EQ(arm.quant_min(), -127);
  EXPECT_EQ(arm.quant_max(), 127);
  const QuantSpec vnni = weights_for_target(qint8_per_channel, quint8, ExportTarget::kVnni);
  EXPECT_EQ(vnni.quant_min(), -128);
  // 7-bit signed weights (ONNX Runtime's reduce_range) are exact on x86 without VNNI already.
  QuantSpec seven = qint8_per_channel;
  seven.bits = 7;
  EXPECT_TRUE(weights_for_target(seven, quint8, ExportTarget::kPortable).is_signed);
  EXPECT_TRUE(weight_range_exact_on(ExportTarget::kPortable, -64, 64));   // 2 * 255 * 64 = 32640
  EXPECT_FALSE(weight_range_exact_on(ExportTarget::kPortable, -65, 64));  // 2 * 255 * 65 = 33150
  EXPECT_FALSE(weight_range_exact_on(ExportTarget::kArm, -128, 127));
  EXPECT_TRUE(weight_range_exact_on(ExportTarget::kArm, 0, 255));
  EXPECT_THROW(
      weights_for_target(qint8_per_channel, QuantSpec{.is_signed = true}, ExportTarget::kPortable),
      Error);
  EXPECT_EQ(export_target_from_name("arm"), ExportTarget::kArm);
  EXPECT_EQ(export_target_name(ExportTarget::kPortable), "portable");
  EXPECT_THROW(export_target_from_name("avx2"), Error);
  EXPECT_EQ(parity_arithmetic(ExportTarget::kPortable), IntegerArithmetic::kX86Int16Pairs);
  EXPECT_EQ(parity_arithmetic(ExportTarget::kVnni), IntegerArithmetic::kExact);
}

// The portable uint8 weights (zero point 128) sit on the int8 grid: fake-quantized weights are
// bit-identical, so portable costs no accuracy against 8-bit int8 (both asymmetric and
// symmetric specs, per channel).
TEST(ExportTarget, PortableUint8GridIsTheInt8Grid) {
  Generator rng(5);
  const Tensor w = nn::init::normal({16, 40}, 0, 0.3, rng);
  for (bool symmetric : {true, false}) {
    QuantSpec s8 = qint8_per_channel;
    s8.symmetric = symmetric;
    const QuantSpec u8 = weights_for_target(s8, quint8, ExportTarget::kPortable);
    ASSERT_FALSE(u8.is_signed);
    Tensor lo = Tensor::empty({16}), hi = Tensor::empty({16});
    for (int64_t c = 0; c < 16; ++c) {
      float mn = 1e30f, mx = -1e30f;
      for (int64_t k = 0; k < 40; ++k)
        mn = std::min(mn, w.data<float>()[c * 40 + k]),
        mx = std::max(mx, w.data<float>()[c * 40 + k]);
      lo.data<float>()[c] = mn;
      hi.data<float>()[c] = mx;
    }
    const QuantParams ps = choose_qparams(s8, lo, hi), pu = choose_qparams(u8, lo, hi);
    std::vector<Tensor> out;
    for (const auto& [spec, p] : {std::pair{s8, ps}, std::pair{u8, pu}}) {
      Attributes a = fake_quantize_attrs(spec);
      out.push_back(run(OpRegistry::builtin().get(std::string(kTampDomain), "FakeQuantize", 1),
                        {w, p.scale, p.zero_point}, std::make_shared<const Attributes>(a))
                        .at(0));
    }
    for (int64_t i = 0; i < w.numel(); ++i) {
      ASSERT_EQ(out[0].data<float>()[i], out[1].data<float>()[i])
          << "symmetric " << symmetric << " at " << i;
    }
  }
}

// An MLP calibrated by static PTQ with the given weight spec and target.
nn::Graph calibrated(const QuantSpec& weights, ExportTarget target) {
  nn::GraphModule m(mlp_graph(24, 32, 10));
  QuantizerOptions o{.weights = weights};
  o.target = target;
  Trainer(m, {std::make_shared<StaticQuantization>(o)},
          {.train = synthetic_data({24}, 128, 10), .calibration_batches = 2})
      .run();
  return m.export_graph();
}

std::set<DType> weight_dtypes(const nn::Graph& q) {
  std::set<DType> out;
  for (const auto& [name, t] : q.initializers)
    if (t.rank() == 2 && t.dtype() != DType::kFloat32) out.insert(t.dtype());
  return out;
}

TEST(ExportTarget, RecordedInTheExportAndCheckedAgainstTheRanges) {
  for (ExportTarget t : {ExportTarget::kPortable, ExportTarget::kVnni, ExportTarget::kArm}) {
    const nn::Graph g = calibrated(qint8_per_channel, t);
    EXPECT_EQ(g.metadata.at("tamp.quantization_target"), export_target_name(t));
    for (QuantFormat f : {QuantFormat::kQdq, QuantFormat::kQOperator}) {
      const nn::Graph q = lower_quantized(g, f);
      EXPECT_EQ(q.metadata.at("tamp.quantization_target"), export_target_name(t));
      EXPECT_EQ(weight_dtypes(q),
                std::set<DType>{t == ExportTarget::kPortable ? DType::kUInt8 : DType::kInt8});
    }
  }
  // A full-range int8 weight in a graph that says portable: refused, naming the node.
  nn::Graph g = calibrated(qint8_per_channel, ExportTarget::kPortable);
  for (auto& n : g.nodes) {
    if (n.op_type == "FakeQuantize" && n.inputs[0] == "fc2.weight") {
      n.attrs = nn::attrs_with(
          {{"axis", int64_t{0}}, {"quant_min", int64_t{-128}}, {"quant_max", int64_t{127}}});
      Tensor& zero_points =
          g.initializers.at(n.inputs.at(2));  // the uint8 grid's 128 becomes int8's 0
      zero_points = Tensor::zeros(zero_points.shape(), zero_points.dtype());
    }
  }
  try {
    lower_quantized(g, QuantFormat::kQdq);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fc2.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("export target portable"), std::string::npos) << e.what();
  }
  // Without a recorded target the export names the first one its ranges are exact on.
  g.metadata.clear();
  EXPECT_EQ(lower_quantized(g, QuantFormat::kQdq).metadata.at("tamp.quantization_target"), "vnni");
  nn::Graph arm = calibrated(qint8_per_channel, ExportTarget::kArm);
  arm.metadata.clear();
  EXPECT_EQ(lower_quantized(arm, QuantFormat::kQdq).metadata.at("tamp.quantization_target"), "arm");
}

// Weights of fewer bits export as int8 within their range, and ORT computes what tamp does:
// 7 bits (reduce-range: exact on every x86 kernel, so the portable target keeps them signed)
// and 4 bits.
TEST(ExportTarget, FewerBitWeightsExportAndOrtAgrees) {
  const Tensor x = synthetic_data({24}, 64, 10, 9)->x();
  for (int bits : {7, 4}) {
    QuantSpec w = qint8_per_channel;
    w.bits = bits;
    const nn::Graph g = calibrated(w, ExportTarget::kPortable);
    const nn::Graph q = lower_quantized(g, QuantFormat::kQdq);
    EXPECT_EQ(weight_dtypes(q), std::set<DType>{DType::kInt8}) << bits;
    const int64_t top = (int64_t{1} << (bits - 1));
    for (const auto& [name, t] : q.initializers) {
      if (t.rank() != 2 || t.dtype() != DType::kInt8) continue;
      for (int64_t i = 0; i < t.numel(); ++i) {
        ASSERT_GE(t.at(i), -top) << name;
        ASSERT_LT(t.at(i), top) << name;
      }
    }
    TempDir dir;
    nn::GraphModule sim(g), exported(q);
    const Tensor ort = ort_logits(q, x, dir, "fewer_bits.onnx");
    const Tensor mine = tamp_logits(exported, x), simulated = tamp_logits(sim, x);
    double step = 0;
    for (const auto& n : q.nodes) {
      if (n.op_type == "DequantizeLinear" && n.outputs[0] == "logits")
        step = q.initializers.at(n.inputs[1]).at(0);
    }
    ASSERT_GT(step, 0);
    for (int64_t i = 0; i < ort.numel(); ++i) {
      ASSERT_LE(std::abs(ort.at(i) - mine.at(i)), step * 1.0001) << bits << " bits, logit " << i;
      ASSERT_LE(std::abs(ort.at(i) - simulated.at(i)), step * 1.0001)
          << bits << " bits, logit " << i;
    }
  }
}

}  // namespace
}  // namespace tamp::test
