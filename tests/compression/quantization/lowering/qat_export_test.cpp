// QAT on the CNN (a subset of Fashion-MNIST, so it stays in the default run), then the QDQ
// and QOperator exports run in ONNX Runtime and in tamp: ORT fuses every Conv/Gemm, and
// ORT agrees with tamp's simulated model within one output quantization step.
#include <tamp/compression/quantization/qat/qat.h>

#include "compression/quantization/quant_test_support.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

namespace tamp::test {
namespace {

using namespace compression;

class QatCnn : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto& data = fashion_mnist();
    auto train = data.train->slice(0, 4096);
    test_ = data.test->slice(0, 1000);
    model_ = std::make_unique<nn::GraphModule>(load_model("cnn"));
    Trainer(*model_, {},
            {.train = train, .epochs = 1, .optimizer = SGD{.lr = 0.05, .momentum = 0.9}})
        .run();
    float_graph_ = model_->export_graph();
    fp32_ = evaluate(*model_, *test_).top1;
    Trainer(*model_, {std::make_shared<QuantizationAwareTraining>()},
            {.train = train,
             .epochs = 1,
             .max_steps_per_epoch = 30,
             .optimizer = SGD{.lr = 0.005, .momentum = 0.9}})
        .run();
    simulated_ = tamp_logits(*model_, test_->x());
  }
  static void TearDownTestSuite() { model_.reset(); }

  static std::shared_ptr<nn::TensorDataset> test_;
  static std::unique_ptr<nn::GraphModule> model_;
  static nn::Graph float_graph_;
  static double fp32_;
  static Tensor simulated_;
};
std::shared_ptr<nn::TensorDataset> QatCnn::test_;
std::unique_ptr<nn::GraphModule> QatCnn::model_;
nn::Graph QatCnn::float_graph_;
double QatCnn::fp32_ = 0;
Tensor QatCnn::simulated_;

struct Agreement {
  double argmax = 0;    // share of rows with the same argmax
  double max_diff = 0;  // largest |a - b|
};

Agreement compare(const Tensor& a, const Tensor& b) {
  Agreement r;
  const auto x = argmax_rows(a), y = argmax_rows(b);
  for (size_t i = 0; i < x.size(); ++i) r.argmax += x[i] == y[i];
  r.argmax /= static_cast<double>(x.size());
  for (int64_t i = 0; i < a.numel(); ++i)
    r.max_diff = std::max(r.max_diff, std::fabs(a.at(i) - b.at(i)));
  return r;
}

TEST_F(QatCnn, SimulatedAccuracyCloseToFloat) {
  const double sim = accuracy(simulated_, test_->y());
  fmt::print("fp32 {:.4f}, simulated int8 {:.4f}\n", fp32_, sim);
  EXPECT_GE(
      sim,
      fp32_ - 0.02);  // 1000 images, 30 QAT steps: a loose bound; the slow test has the real one
}

TEST_F(QatCnn, QdqFusedByOrtAndAgreesWithinOneStep) {
  nn::Graph qdq = lower_quantized(model_->export_graph(), QuantFormat::kQdq);
  TempDir dir;
  const Tensor ort = ort_logits(qdq, test_->x(), dir, "cnn_qdq.onnx", dir.file("opt.onnx"));
  const auto ops = op_types(dir.file("opt.onnx"));
  for (const char* fp : {"Conv", "Gemm", "MatMul"})
    EXPECT_EQ(std::count(ops.begin(), ops.end(), fp), 0) << fp;
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "QLinearConv"), 2);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "QGemm"), 2);
  const double step = model_->parameter("logits_scale").value().item();
  const Agreement a = compare(simulated_, ort);
  EXPECT_GE(a.argmax, 0.999);
  EXPECT_LE(a.max_diff, step * 1.0001);

  // tamp runs the exported model too, and computes what ORT computes up to the same step.
  nn::GraphModule exported(qdq);
  const Agreement t = compare(tamp_logits(exported, test_->x()), ort);
  EXPECT_GE(t.argmax, 0.999);
  EXPECT_LE(t.max_diff, step * 1.0001);

  // int8 weights: the file shrinks to about a quarter.
  io::save_onnx_graph(float_graph_, dir.file("cnn_fp32.onnx"));
  const double ratio = static_cast<double>(std::filesystem::file_size(dir.file("cnn_qdq.onnx"))) /
                       static_cast<double>(std::filesystem::file_size(dir.file("cnn_fp32.onnx")));
  fmt::print("QDQ / fp32 file size {:.3f}\n", ratio);
  EXPECT_LE(ratio, 0.27);
}

TEST_F(QatCnn, QOperatorRunsInOrtAndTampAndAgrees) {
  nn::Graph qop = lower_quantized(model_->export_graph(), QuantFormat::kQOperator);
  std::vector<std::string> ops;
  for (const auto& n : qop.nodes) ops.push_back(n.op_type);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "QLinearConv"), 2);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "MatMulInteger"), 2);
  for (const char* fp : {"Conv", "Gemm", "MatMul"})
    EXPECT_EQ(std::count(ops.begin(), ops.end(), fp), 0) << fp;
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "QuantizeLinear"),
            3);  // entry + 2 requantized Gemms
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "DequantizeLinear"), 1);  // exit
  TempDir dir;
  const Tensor ort = ort_logits(qop, test_->x(), dir, "cnn_qop.onnx");
  const double step = model_->parameter("logits_scale").value().item();
  const Agreement a = compare(simulated_, ort);
  EXPECT_GE(a.argmax, 0.999);
  EXPECT_LE(a.max_diff, step * 1.0001);
  nn::GraphModule exported(qop);
  const Agreement t = compare(tamp_logits(exported, test_->x()), ort);
  EXPECT_GE(t.argmax, 0.999);
  EXPECT_LE(t.max_diff, step * 1.0001);
}

}  // namespace
}  // namespace tamp::test
