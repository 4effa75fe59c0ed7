// A run whose loss turns NaN/Inf: steps are skipped, and after training.max_nonfinite_steps in
// a row `tamp run` stops with an error naming the first node that produced a non-finite value;
// the checkpoint of the last good step stays loadable.
#include "run_test_support.h"

#include <tamp/io/checkpoint.h>

#include <gtest/gtest.h>

namespace tamp::test {
namespace {

TEST(NonFinite, StopsNamingTheNodeAndKeepsTheLastGoodCheckpoint) {
  TempDir dir;
  const std::string root = source_dir();
  std::ofstream(dir.file("r.yaml")) << "model: " << root << "/tests/data/models/cnn.onnx\n"
                                    << R"(data: {limit: 256, eval_limit: 64}
training:
  epochs: 1
  steps_per_epoch: 30
  batch_size: 16
  optimizer: {kind: sgd, lr: 10, momentum: 0.99}
  max_nonfinite_steps: 3
  checkpoint_every: 1
  log_every: 1
stages: [{name: diverge}]
export: {format: float}
)";
  const std::string out = dir.file("out");
  const CliResult r = run_tamp({"run", dir.file("r.yaml"), "--out", out, "--quiet"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("3 training steps in a row had a non-finite loss"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("node"), std::string::npos) << "names the node: " << r.err;
  EXPECT_FALSE(std::filesystem::exists(out + "/model.onnx"));
  const io::Checkpoint c = io::load_checkpoint(out + "/checkpoint.h5");
  EXPECT_EQ(c.at("pos/bad_in_a_row").item(), 0);
  const int64_t step = static_cast<int64_t>(c.at("pos/step").item());
  EXPECT_GE(step, 1);
  EXPECT_LT(step, 30);
  // Every parameter in it is finite.
  for (const auto& [name, t] : c.group("param/")) {
    const Tensor f = t.to(DType::kFloat64);
    for (int64_t i = 0; i < f.numel(); ++i) ASSERT_TRUE(std::isfinite(f.data<double>()[i])) << name;
  }
}

}  // namespace
}  // namespace tamp::test
