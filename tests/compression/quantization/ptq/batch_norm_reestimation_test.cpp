// BatchNorm re-estimation (batch_norm_reestimation.h) against PyTorch: the CNN with
// BatchNorm (cnn_bn_train), three batches of unequal size, and the running statistics torch
// computes with momentum=None in train mode (fixtures/bn_reestimation, written by
// scripts/bn_reestimation_fixture.py). Also: through the Trainer, and a clear error without
// BatchNorm.
#include <tamp/compression/quantization/ptq/batch_norm_reestimation.h>
#include <tamp/io/tensor_proto.h>
#include <tamp/nn/graph_edit.h>

#include "compression/quantization/quant_test_support.h"

#include <cmath>

namespace tamp::test {
namespace {

using namespace compression;

Tensor fixture(const std::string& file) {
  return io::read_tensor_file(source_dir() + "/tests/data/fixtures/bn_reestimation/" + file);
}

Tensor buffer(const nn::GraphModule& m, const std::string& name) {
  for (const auto& [n, v] : m.named_buffers())
    if (n == name) return v.value();
  ADD_FAILURE() << "no buffer " << name;
  return Tensor::zeros({1});
}

nn::Graph cnn_bn() {
  nn::Graph g = load_model("cnn_bn_train");
  release_training_modes(g);
  return g;
}

TEST(BatchNormReestimation, ReproducesPyTorchsRunningStatistics) {
  nn::GraphModule m(cnn_bn());
  m.eval();
  BatchNormReestimation bnr;
  bnr.attach(m, nn::local_collective());
  const Variable labels;
  for (int i = 0; i < 3; ++i) {
    const std::map<std::string, Variable> in{
        {"input", Variable(fixture(fmt::format("batch{}.pb", i)))}};
    const std::map<std::string, Variable> values;
    bnr.on_calibration_batch({in, labels, values});
  }
  bnr.finalize(m);
  EXPECT_FALSE(m.is_training());  // left as it was
  EXPECT_EQ(bnr.batches_seen(), 3);
  for (const char* name :
       {"bn1.running_mean", "bn1.running_var", "bn2.running_mean", "bn2.running_var"}) {
    SCOPED_TRACE(name);
    const Tensor want = fixture(std::string(name) + ".pb"), got = buffer(m, name);
    ASSERT_EQ(got.shape(), want.shape());
    for (int64_t i = 0; i < want.numel(); ++i)
      EXPECT_NEAR(got.at(i), want.at(i), 1e-5 + 1e-4 * std::fabs(want.at(i))) << i;
  }
}

TEST(BatchNormReestimation, RunsAsACalibrationStage) {
  nn::GraphModule m(cnn_bn());
  const Tensor before = buffer(m, "bn2.running_var").clone();
  auto data = fashion_mnist().train->slice(0, 96);
  TrainOptions o;
  o.train = data;
  o.batch_size = 32;
  o.calibration_batches = 2;
  Trainer(m, {std::make_shared<BatchNormReestimation>()}, o).run();
  double moved = 0;
  const Tensor after = buffer(m, "bn2.running_var");
  for (int64_t i = 0; i < after.numel(); ++i)
    moved = std::max(moved, std::fabs(after.at(i) - before.at(i)));
  EXPECT_GT(moved, 1e-3);
}

TEST(BatchNormReestimation, RefusesAModelWithoutBatchNorm) {
  nn::GraphModule m(load_model("cnn"));
  BatchNormReestimation bnr;
  EXPECT_THROW(bnr.attach(m, nn::local_collective()), Error);
}

}  // namespace
}  // namespace tamp::test
