// `tamp train` for a few steps on a subset: the exported model holds exactly what the Trainer
// produces in this process with the same options, loads back, and runs in ONNX Runtime with
// the same outputs as tamp's forward pass (1e-4 relative).
#include "tamp_runner.h"

#include "support/expect.h"
#include "support/ort_runner.h"
#include "support/test_data.h"

#include <tamp/autograd/threads.h>
#include <tamp/io/idx.h>
#include <tamp/io/onnx_import.h>
#include <tamp/scheduler/trainer.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>

namespace tamp::test {
namespace {

Tensor test_images(const nn::ValueInfo& info, int64_t n) {
  Tensor x = fashion_data().test->slice(0, n)->x();
  return fit_input(info, x);
}

// Runs the exported model in tamp and in ONNX Runtime on 16 test images.
void expect_tamp_equals_ort(const std::string& exported) {
  nn::GraphModule trained = io::load_onnx(exported);
  trained.eval();
  const nn::ValueInfo& in = trained.graph().inputs.at(0);
  const Tensor x = test_images(in, 16);
  Tensor mine;
  {
    NoGradGuard no_grad;
    mine = trained.forward({{in.name, Variable(x)}}).at("logits").value();
  }
  expect_close(mine, run_ort(exported, {{in.name, x}}).at("logits"), {.rtol_of_max = 1e-4});
}

TEST(Train, SgdStepsEqualTheTrainerAndTheExportRunsInOnnxRuntime) {
  const std::string path = model_file("cnn");
  TempDir dir;
  const CliResult r = run_tamp({"train",      path,
                                "--dataset",  "fashion-mnist",
                                "--limit",    "256",
                                "--epochs",   "2",
                                "--steps",    "3",
                                "--batch",    "32",
                                "--lr",       "0.05",
                                "--momentum", "0.8",
                                "--seed",     "3",
                                "--threads",  "1",
                                "--out",      dir.file("tuned.onnx"),
                                "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("steps"), 6);
  EXPECT_EQ(j.at("dataset"), "fashion-mnist:train");
  EXPECT_EQ(j.at("test").at("examples"), 256);
  EXPECT_NE(r.err.find("training "), std::string::npos)
      << "progress goes to stderr with --json: " << r.err;

  // The same stage in this process.
  set_num_threads(1);
  nn::GraphModule model = io::load_onnx(path);
  const auto before = model.state_dict();
  std::map<std::string, Tensor> initial;
  for (const auto& [name, t] : before) initial[name] = t.clone();
  Generator rng(3);
  model.set_generator(&rng);
  TrainOptions options;
  options.train = fashion_data().train->slice(0, 256);
  options.eval = fashion_data().test->slice(0, 256);
  options.epochs = 2;
  options.max_steps_per_epoch = 3;
  options.batch_size = 32;
  options.optimizer = SGD{.lr = 0.05, .momentum = 0.8};
  options.seed = 3;
  const StageRecord want = Trainer(model, {}, options).run();
  EXPECT_NEAR(j.at("train_loss").get<double>(), want.train_loss, 1e-6 * want.train_loss);
  EXPECT_DOUBLE_EQ(j.at("test").at("top1").get<double>(), want.eval.top1);

  nn::GraphModule exported = io::load_onnx(dir.file("tuned.onnx"));
  const auto got = exported.state_dict();
  ASSERT_EQ(got.size(), before.size());
  for (const auto& [name, t] : model.state_dict()) {
    const Tensor& e = got.at(name);
    double moved = 0;
    for (int64_t i = 0; i < t.numel(); ++i) {
      ASSERT_NEAR(e.at(i), t.at(i), 1e-6 * (1 + std::abs(t.at(i)))) << name << "[" << i << "]";
      moved = std::max(moved, std::abs(e.at(i) - initial.at(name).at(i)));
    }
    EXPECT_GT(moved, 0) << name << " was not trained";
  }
  expect_tamp_equals_ort(dir.file("tuned.onnx"));
}

TEST(Train, AdamOnTheFlatInputMlpPrintsProgressAndExports) {
  TempDir dir;
  const CliResult r = run_tamp({"train", model_file("mlp"), "--dataset", "fashion-mnist", "--limit",
                                "200", "--steps", "4", "--batch", "25", "--optimizer", "adam",
                                "--log-every", "2", "--out", dir.file("mlp.onnx")});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("epoch 1/1  step 2/4  loss "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("epoch 1/1  step 4/4  loss "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("test: 200 examples, top-1 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("wrote " + dir.file("mlp.onnx")), std::string::npos) << r.out;
  expect_tamp_equals_ort(dir.file("mlp.onnx"));
}

// A torch training-mode export (BatchNormalization with its five training outputs, Dropout with
// a constant training_mode = true) trains as usual and is written as an inference model:
// ONNX Runtime's output for an image does not depend on the other images of the batch.
TEST(Train, ATrainingModeExportIsWrittenAsAnInferenceModel) {
  TempDir dir;
  const std::string out = dir.file("trained.onnx");
  const CliResult r =
      run_tamp({"train", model_file("cnn_bn_train"), "--dataset", "fashion-mnist", "--limit", "256",
                "--steps", "3", "--batch", "32", "--threads", "1", "--out", out});
  ASSERT_EQ(r.code, 0) << r.err;
  const nn::Graph g = io::load_onnx_graph(out);
  int batch_norms = 0, dropouts = 0;
  for (const auto& n : g.nodes) {
    if (n.op_type == "BatchNormalization") {
      ++batch_norms;
      EXPECT_EQ(n.outputs.size(), 1u) << n.name;
      EXPECT_FALSE(n.attrs && n.attrs->has("training_mode")) << n.name;
    }
    if (n.op_type == "Dropout") {
      ++dropouts;
      EXPECT_LE(n.inputs.size(), 2u) << n.name;
    }
  }
  EXPECT_EQ(batch_norms, 2);
  EXPECT_EQ(dropouts, 1);
  const nn::ValueInfo& in = g.inputs.at(0);
  const Tensor batch = test_images(in, 16);
  const Tensor logits = run_ort(out, {{in.name, batch}}).at("logits");
  Tensor first = Tensor::empty({1, logits.dim(1)}, DType::kFloat32);
  std::copy_n(logits.data<float>(), logits.dim(1), first.data<float>());
  const Tensor alone = run_ort(out, {{in.name, test_images(in, 1)}}).at("logits");
  expect_close(first, alone, {.rtol_of_max = 1e-5});
  expect_tamp_equals_ort(out);
}

TEST(Train, UsageErrors) {
  TempDir dir;
  const std::string cnn = model_file("cnn"), out = dir.file("o.onnx");
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"train", cnn, "--dataset", "fashion-mnist"},  // no --out
           {"train", cnn, "--dataset", "fashion-mnist", "--out", out, "--optimizer", "rmsprop"},
           {"train", cnn, "--dataset", "fashion-mnist", "--out", out, "--optimizer", "adam",
            "--momentum", "0.9"},
           {"train", cnn, "--dataset", "fashion-mnist", "--out", out, "--lr", "-1"},
           {"train", cnn, "--dataset", "fashion-mnist", "--out", out, "--epochs", "0"},
       }) {
    const CliResult r = run_tamp(args);
    EXPECT_EQ(r.code, 2) << r.err;
  }
  EXPECT_FALSE(std::filesystem::exists(out));
}

}  // namespace
}  // namespace tamp::test
