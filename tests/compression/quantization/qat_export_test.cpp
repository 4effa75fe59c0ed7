// QAT on the CNN, then the QDQ export run in ONNX Runtime: fused completely, and agreeing
// with tamp's simulated model.
#include <tamp/compression/quantization/qat.h>

#include "quant_test_support.h"

#include <algorithm>
#include <cmath>

namespace tamp::test {
namespace {

using namespace compression;

TEST(QatExport, CnnSubsetQdqFusesAndMatchesOrt) {
  const auto& data = fashion_mnist();
  auto train = data.train->slice(0, 4096);
  auto test = data.test->slice(0, 1000);
  nn::GraphModule m(load_model("cnn"));
  Trainer(m, {}, {.train = train, .epochs = 1, .optimizer = SGD{.lr = 0.05, .momentum = 0.9}}).run();
  const double fp32 = evaluate(m, *test).top1;

  auto qat = std::make_shared<QuantizationAwareTraining>();
  Trainer(m, {qat}, {.train = train, .epochs = 1, .max_steps_per_epoch = 30, .optimizer = SGD{.lr = 0.005, .momentum = 0.9}}).run();
  const Tensor sim = tamp_logits(m, test->x());
  const double sim_acc = accuracy(sim, test->y());
  fmt::print("fp32 {:.4f}  simulated int8 {:.4f}\n", fp32, sim_acc);

  nn::Graph qdq = lower_quantized(m.export_graph(), QuantFormat::kQdq);
  TempDir dir;
  const Tensor ort = ort_logits(qdq, test->x(), dir, "cnn_qdq.onnx", dir.file("opt.onnx"));
  const auto ops = op_types(dir.file("opt.onnx"));
  for (const auto& op : ops) fmt::print("{} ", op);
  fmt::print("\n");
  for (const char* fp : {"Conv", "Gemm", "MatMul"}) EXPECT_EQ(std::count(ops.begin(), ops.end(), fp), 0) << fp;

  const auto a = argmax_rows(sim), b = argmax_rows(ort);
  int64_t agree = 0;
  double max_diff = 0;
  for (size_t i = 0; i < a.size(); ++i) agree += a[i] == b[i];
  for (int64_t i = 0; i < sim.numel(); ++i) max_diff = std::max(max_diff, std::fabs(sim.at(i) - ort.at(i)));
  const double step = m.parameter("logits_scale").value().item();
  fmt::print("agree {} / {}, max logit diff {} (step {})\n", agree, a.size(), max_diff, step);
  EXPECT_LE(max_diff, step * 1.0001);
}

}  // namespace
}  // namespace tamp::test
