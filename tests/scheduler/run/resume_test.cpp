// Resume: `tamp run` killed with SIGKILL (mid-epoch, at several points, across stage
// boundaries) and resumed ends with a model and metrics bit-identical to an uninterrupted run.
#include "run_test_support.h"

#include <tamp/io/checkpoint.h>
#include <tamp/scheduler/scheduler.h>

#include "support/expect.h"
#include "support/kill_run.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

namespace tamp::test {
namespace {

TEST(Resume, KilledRunsResumeBitIdenticalAcrossStages) {
  TempDir dir;
  // Three stages (distillation, 2:4 pruning, PTQ); 10 steps per stage, a checkpoint every 3.
  const std::string recipe = tiny_recipe("multishot_distill_prune_ptq", dir, 10, 3);
  const std::string full = dir.file("full"), cut = dir.file("cut");
  const CliResult a = run_tamp({"run", recipe, "--out", full, "--quiet"});
  ASSERT_EQ(a.code, 0) << a.err;

  // Kill points: after the 1st, 3rd, 5th and 8th checkpoint write, some mid-write (0 ms).
  const std::string ckpt = cut + "/checkpoint.h5";
  bool first = true;
  int kills = 0;
  for (auto [writes, delay] : std::vector<std::pair<int, int>>{{1, 30}, {2, 0}, {2, 55}, {3, 5}}) {
    std::vector<std::string> args{"run", recipe, "--out", cut, "--quiet"};
    if (!first) args.push_back("--resume");
    first = false;
    if (run_and_kill(TAMP_CLI_BINARY, args, ckpt, writes, delay))
      ++kills;
    else
      break;  // finished before the kill point
  }
  EXPECT_GE(kills, 2);
  const CliResult b = run_tamp({"run", recipe, "--out", cut, "--resume", "--quiet"});
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_EQ(slurp(full + "/model.onnx"), slurp(cut + "/model.onnx")) << "exported models differ";
  EXPECT_EQ(metrics_without_timing(full + "/metrics.jsonl"),
            metrics_without_timing(cut + "/metrics.jsonl"));
  const auto sa = nlohmann::json::parse(slurp(full + "/summary.json"));
  const auto sb = nlohmann::json::parse(slurp(cut + "/summary.json"));
  EXPECT_EQ(sa["export"]["eval"], sb["export"]["eval"]);
  for (size_t i = 0; i < sa["stages"].size(); ++i) {
    EXPECT_EQ(sa["stages"][i]["train_loss"], sb["stages"][i]["train_loss"]) << i;
    EXPECT_EQ(sa["stages"][i]["eval"], sb["stages"][i]["eval"]) << i;
  }
  EXPECT_TRUE(sb["resumed"].get<bool>());
  for (const auto& e : std::filesystem::directory_iterator(cut)) {
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos)
        << "left behind: " << e.path();
  }
}

// A second run into a folder holding one replaces nothing unless told: --resume continues it,
// --overwrite replaces it.
TEST(Resume, AFolderHoldingAnotherRunIsRefusedUnlessOverwritten) {
  TempDir dir;
  const std::string recipe = tiny_recipe("oneshot_prune_qat", dir, 2);
  const std::string out = dir.file("out");
  ASSERT_EQ(run_tamp({"run", recipe, "--out", out, "--quiet"}).code, 0);
  const std::string summary = slurp(out + "/summary.json");
  const CliResult again = run_tamp({"run", recipe, "--out", out, "--quiet"});
  EXPECT_EQ(again.code, 3);
  EXPECT_NE(again.err.find(
                "'" + out +
                "' holds another run (checkpoint.h5, metrics.jsonl, summary.json, report.html, "
                "model.onnx)"),
            std::string::npos)
      << again.err;
  EXPECT_NE(again.err.find("--overwrite"), std::string::npos) << again.err;
  EXPECT_EQ(slurp(out + "/summary.json"), summary) << "the refused run changed the folder";
  EXPECT_EQ(run_tamp({"run", recipe, "--out", out, "--resume", "--overwrite"}).code, 2);
  const CliResult replaced = run_tamp({"run", recipe, "--out", out, "--quiet", "--overwrite"});
  EXPECT_EQ(replaced.code, 0) << replaced.err;
  // Another file in the folder is no run: nothing of it would be replaced.
  const std::string other = dir.file("other");
  std::filesystem::create_directories(other);
  std::ofstream(other + "/notes.txt") << "mine\n";
  EXPECT_EQ(run_tamp({"run", recipe, "--out", other, "--quiet"}).code, 0);
}

TEST(Resume, RefusesAnotherRecipeAndAMissingCheckpoint) {
  TempDir dir;
  const std::string recipe = tiny_recipe("oneshot_prune_qat", dir, 4, 2);
  const std::string out = dir.file("out");
  const CliResult none = run_tamp({"run", recipe, "--out", out, "--resume"});
  EXPECT_EQ(none.code, 3);
  EXPECT_NE(none.err.find("no checkpoint"), std::string::npos) << none.err;
  ASSERT_EQ(run_tamp({"run", recipe, "--out", out, "--quiet"}).code, 0);
  std::ofstream(recipe, std::ios::app) << "# edited\n";
  const CliResult other = run_tamp({"run", recipe, "--out", out, "--resume"});
  EXPECT_EQ(other.code, 3);
  EXPECT_NE(other.err.find("another recipe"), std::string::npos) << other.err;
}

// The data-parallel shape a checkpoint records (scheduler/detail/run_state.h) fixes the
// per-rank batch of a resume on another rank count; mpirun runs of it: tests/dist.
TEST(Resume, AnotherRankCountKeepsTheSavedGlobalBatch) {
  TempDir dir;
  const std::string path = dir.file("checkpoint.h5");
  io::Checkpoint c;
  c.tensors["run/ranks"] = Tensor::scalar(2, DType::kInt64);
  c.tensors["run/batch"] = Tensor::scalar(16, DType::kInt64);
  io::save_checkpoint(c, path);
  EXPECT_EQ(resume_batch(path, 64, 1).batch_size, 32);
  const ResumeBatch four = resume_batch(path, 64, 4);
  EXPECT_EQ(four.batch_size, 8);
  EXPECT_EQ(four.saved_ranks, 2);
  EXPECT_EQ(four.global_batch, 32);
  expect_error([&] { resume_batch(path, 64, 3); }, ErrorKind::kInvalidInput,
               {"resuming from '" + path + "'",
                "global batch of 32, which 3 ranks cannot share evenly", "mpirun -np 2"});
  io::Checkpoint unshaped;
  unshaped.tensors["pos/stage"] = Tensor::scalar(0, DType::kInt64);
  io::save_checkpoint(unshaped, path);
  EXPECT_EQ(resume_batch(path, 64, 3).batch_size, 64);  // none recorded: the recipe's batch
}

}  // namespace
}  // namespace tamp::test
