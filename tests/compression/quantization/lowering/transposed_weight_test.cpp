// A weight read through MatMul(x, Transpose(W)) (torch's training-mode export of nn.Linear on a
// 3-D input, as in the BERT-style encoder) is quantized as a weight: per channel along W's
// output axis with the target's weight scheme, in PTQ and QAT. The QDQ export stores it
// transposed (no Transpose left) so ONNX Runtime fuses the MatMul, the QOperator export writes
// QLinearMatMul, and ORT agrees with tamp's simulation within one output step.
#include <tamp/compression/quantization/ptq/static_quantization.h>
#include <tamp/compression/quantization/qat/qat.h>
#include <tamp/compression/quantization/quant_plan.h>

#include "compression/pruning/prune_test_support.h"
#include "compression/quantization/quant_test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace tamp::test {
namespace {

using namespace compression;

// x (N, 4, 12) -> MatMul(x, Transpose(W1 [16, 12])) + b1 -> Relu -> MatMul(., Transpose(W2
// [8, 16])) + b2 -> Relu -> Flatten -> Gemm(transB = 1, [10, 32]) -> logits.
nn::Graph encoder_like_graph() {
  Generator rng(5);
  nn::Graph g;
  g.inputs.push_back(
      {"input", DType::kFloat32, {nn::Dim::symbolic("batch"), nn::Dim::of(4), nn::Dim::of(12)}});
  const auto linear = [&](const std::string& name, const std::string& x, int64_t in, int64_t out) {
    g.initializers[name + ".weight"] =
        random_tensor({out, in}, rng, 1.0 / std::sqrt(static_cast<double>(in)));
    g.initializers[name + ".bias"] = random_tensor({out}, rng, 0.1);
    g.nodes.push_back({name + "/Transpose",
                       "Transpose",
                       "",
                       {name + ".weight"},
                       {name + "/wt"},
                       nn::attrs_with({{"perm", std::vector<int64_t>{1, 0}}})});
    g.nodes.push_back({name + "/MatMul", "MatMul", "", {x, name + "/wt"}, {name + "/mm"}});
    g.nodes.push_back({name + "/Add", "Add", "", {name + "/mm", name + ".bias"}, {name + "/y"}});
    g.nodes.push_back({name + "/Relu", "Relu", "", {name + "/y"}, {name + "/r"}});
    return name + "/r";
  };
  const std::string h = linear("linear2", linear("linear1", "input", 12, 16), 16, 8);
  g.nodes.push_back({"flatten", "Flatten", "", {h}, {"flat"}});
  g.initializers["head.weight"] = random_tensor({10, 32}, rng, 0.2);
  g.nodes.push_back({"head",
                     "Gemm",
                     "",
                     {"flat", "head.weight"},
                     {"logits"},
                     nn::attrs_with({{"transB", int64_t{1}}})});
  g.outputs.push_back({"logits", DType::kFloat32, {nn::Dim::symbolic("batch"), nn::Dim::of(10)}});
  return g;
}

std::shared_ptr<nn::TensorDataset> data() { return synthetic_data({4, 12}, 256, 10); }

TEST(TransposedWeight, PlannedAsAWeightAlongItsOutputAxis) {
  const QuantPlan plan = plan_quantization(encoder_like_graph());
  for (const char* name : {"linear1", "linear2"}) {
    const std::string w = std::string(name) + ".weight";
    auto site = std::find_if(plan.weights.begin(), plan.weights.end(),
                             [&](const WeightSite& s) { return s.weight == w; });
    ASSERT_NE(site, plan.weights.end()) << w;
    EXPECT_EQ(site->axis, 0) << w;  // W [out, in]: per output channel
    EXPECT_EQ(site->nodes, std::vector<std::string>{std::string(name) + "/MatMul"});
    EXPECT_EQ(site->transposes, std::vector<std::string>{std::string(name) + "/Transpose"});
    for (const auto& a : plan.activations) {
      EXPECT_NE(a, w);
      EXPECT_NE(a, std::string(name) + "/wt");
    }
  }
  // An excluded MatMul leaves its Transpose(W) unquantized (nothing reads it as a weight).
  const QuantPlan without =
      plan_quantization(encoder_like_graph(), {.exclude = {"linear1/MatMul"}});
  for (const auto& s : without.weights) EXPECT_NE(s.weight, "linear1.weight");
}

// The ORT logits of `q` (its optimized graph saved) against tamp's simulation of `quantized`
// and tamp's run of `q`: within one step of the output quantization.
void expect_ort_agrees(const nn::Graph& quantized, const nn::Graph& q, const std::string& what,
                       std::vector<std::string>* ort_ops = nullptr) {
  const Tensor x = synthetic_data({4, 12}, 64, 10, 9)->x();
  TempDir dir;
  const Tensor ort = ort_logits(q, x, dir, "q.onnx", dir.file("opt.onnx"));
  if (ort_ops) *ort_ops = op_types(dir.file("opt.onnx"));
  nn::GraphModule sim(quantized), exported(q);
  const Tensor simulated = tamp_logits(sim, x), mine = tamp_logits(exported, x);
  double step = 0;
  for (const auto& n : quantized.nodes) {
    if (n.op_type == "FakeQuantize" && n.outputs[0] == "logits")
      step = quantized.initializers.at(n.inputs[1]).at(0);
  }
  ASSERT_GT(step, 0) << what;
  for (int64_t i = 0; i < ort.numel(); ++i) {
    ASSERT_LE(std::abs(ort.at(i) - simulated.at(i)), step * 1.0001) << what << ", logit " << i;
    ASSERT_LE(std::abs(ort.at(i) - mine.at(i)), step * 1.0001) << what << ", logit " << i;
  }
}

void expect_exports_run_in_ort(const nn::Graph& quantized, const std::string& what) {
  for (const auto& n : quantized.nodes) {
    if (n.op_type != "FakeQuantize" || n.inputs[0] != "linear1.weight") continue;
    EXPECT_EQ(n.attrs->i("axis", -1), 0) << what;
    EXPECT_EQ(quantized.initializers.at(n.inputs[1]).numel(), 16) << what;  // per channel
  }
  const nn::Graph qdq = lower_quantized(quantized, QuantFormat::kQdq);
  for (const auto& n : qdq.nodes) EXPECT_NE(n.op_type, "Transpose") << what;  // folded
  bool found = false;
  for (const auto& n : qdq.nodes) {
    if (n.op_type != "DequantizeLinear" || n.outputs[0] != "linear1/wt") continue;
    found = true;
    EXPECT_EQ(qdq.initializers.at(n.inputs[0]).shape(), (Shape{12, 16})) << what;
    EXPECT_NE(qdq.initializers.at(n.inputs[0]).dtype(), DType::kFloat32) << what;
    EXPECT_EQ(n.attrs->i("axis", -1), 1) << what;
  }
  EXPECT_TRUE(found) << what;
  std::vector<std::string> ops;
  expect_ort_agrees(quantized, qdq, what + " qdq", &ops);
  for (const char* fp : {"MatMul", "Gemm"})
    EXPECT_EQ(std::count(ops.begin(), ops.end(), fp), 0) << what << ": ORT left a float " << fp;

  const nn::Graph qop = lower_quantized(quantized, QuantFormat::kQOperator);
  std::vector<std::string> qop_ops;
  for (const auto& n : qop.nodes) qop_ops.push_back(n.op_type);
  EXPECT_EQ(std::count(qop_ops.begin(), qop_ops.end(), "QLinearMatMul"), 2) << what;
  EXPECT_EQ(std::count(qop_ops.begin(), qop_ops.end(), "MatMulInteger"), 1) << what;  // the head
  EXPECT_EQ(std::count(qop_ops.begin(), qop_ops.end(), "Transpose"), 0) << what;
  expect_ort_agrees(quantized, qop, what + " qoperator");
}

TEST(TransposedWeight, StaticPtqExportsRunInOrtAndAgree) {
  nn::GraphModule m(encoder_like_graph());
  TrainOptions o;
  o.train = data();
  o.calibration_batches = 4;
  Trainer(m, {std::make_shared<StaticQuantization>()}, o).run();
  expect_exports_run_in_ort(m.export_graph(), "ptq");
}

TEST(TransposedWeight, QatExportsRunInOrtAndAgree) {
  nn::GraphModule m(encoder_like_graph());
  TrainOptions o = quick_training(data());
  o.max_steps_per_epoch = 6;
  Trainer(m, {std::make_shared<QuantizationAwareTraining>()}, o).run();
  expect_exports_run_in_ort(m.export_graph(), "qat");
}

}  // namespace
}  // namespace tamp::test
