// QAT with BatchNorm live and then frozen (freeze_bn_epoch 1 of 2), run by `tamp run` with a
// checkpoint after every step and killed (SIGKILL) before and after the freeze: the resumed
// run writes the same model, byte for byte, as the uninterrupted one.
#include "tamp_runner.h"

#include "support/kill_run.h"
#include "support/ort_runner.h"  // source_dir()
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace tamp::test {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(QatBatchNormResume, KilledBeforeAndAfterTheFreezeResumesBitIdentical) {
  TempDir dir;
  const std::string recipe = dir.file("bn_qat.yaml");
  std::ofstream(recipe)
      << "model: " << source_dir() << "/tests/data/models/cnn_bn_train.onnx\n"
      << "seed: 1\n"
      << "data: {dataset: fashion-mnist, normalize: \"0.2860,0.3530\", limit: 512, eval_limit: "
         "200}\n"
      << "training: {epochs: 2, steps_per_epoch: 6, checkpoint_every: 1, log_every: 2,\n"
      << "           optimizer: {kind: sgd, lr: 0.01, momentum: 0.9}}\n"
      << "stages:\n  - name: qat\n    qat: {freeze_bn_epoch: 1}\n"
      << "export: {format: qdq, path: model.onnx}\n";
  const std::string full = dir.file("full");
  const CliResult a = run_tamp({"run", recipe, "--out", full, "--quiet"});
  ASSERT_EQ(a.code, 0) << a.err;
  const std::string reference = slurp(full + "/model.onnx");
  ASSERT_FALSE(reference.empty());
  int killed = 0;
  for (int writes : {3, 9}) {  // BN live (step 3), BN frozen (step 9; the freeze is at step 6)
    const std::string cut = dir.file("cut" + std::to_string(writes));
    killed += run_and_kill(TAMP_CLI_BINARY, {"run", recipe, "--out", cut, "--quiet"},
                           cut + "/checkpoint.h5", writes);
    const CliResult r = run_tamp({"run", recipe, "--out", cut, "--resume", "--quiet"});
    ASSERT_EQ(r.code, 0) << writes << ": " << r.err;
    EXPECT_EQ(slurp(cut + "/model.onnx"), reference) << "killed after " << writes << " checkpoints";
  }
  EXPECT_GE(killed, 1) << "both runs finished before the kill: nothing was resumed";
}

}  // namespace
}  // namespace tamp::test
