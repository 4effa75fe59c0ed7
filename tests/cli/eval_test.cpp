// `tamp eval` on a --limit subset of Fashion-MNIST equals scheduler/evaluate.h run in this
// process on the same examples; flat-input models get the images flattened.
#include "tamp_runner.h"

#include "support/ort_runner.h"
#include "support/test_data.h"

#include <tamp/io/idx.h>
#include <tamp/io/onnx_import.h>
#include <tamp/scheduler/evaluate.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace tamp::test {
namespace {

class EvalModels : public ::testing::TestWithParam<std::string> {};

TEST_P(EvalModels, JsonEqualsEvaluateOnTheSameExamples) {
  const std::string path = model_file(GetParam());
  const CliResult r = run_tamp({"eval", path, "--dataset", "fashion-mnist:test", "--limit", "300",
                                "--batch", "128", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("dataset"), "fashion-mnist:test");
  EXPECT_EQ(j.at("examples"), 300);

  nn::GraphModule model = io::load_onnx(path);
  EvalOptions options;
  options.batch_size = 128;
  const EvalResult want = evaluate(model, *fashion_data().test->slice(0, 300), options);
  EXPECT_DOUBLE_EQ(j.at("top1").get<double>(), want.top1);
  EXPECT_DOUBLE_EQ(j.at("top5").get<double>(), want.top5);
  EXPECT_NEAR(j.at("loss").get<double>(), want.loss, 1e-6 * want.loss);
  EXPECT_GE(want.top5, want.top1);
}

// The MLP takes (N, 784): the images are flattened to fit it.
INSTANTIATE_TEST_SUITE_P(TestModels, EvalModels, ::testing::Values("cnn", "mlp"));

TEST(Eval, TextOnTheTrainingSplit) {
  const CliResult r =
      run_tamp({"eval", model_file("cnn"), "--dataset", "fashion-mnist:train", "--limit", "100"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("fashion-mnist:train: 100 examples, top-1 ", 0), 0u) << r.out;
}

TEST(Eval, DatasetErrors) {
  const std::string cnn = model_file("cnn");
  EXPECT_EQ(run_tamp({"eval", cnn, "--dataset", "imagenet"}).code, 2);
  EXPECT_EQ(run_tamp({"eval", cnn, "--dataset", "fashion-mnist:valid"}).code, 2);
  EXPECT_EQ(run_tamp({"eval", cnn}).code, 2) << "--dataset is required";
  EXPECT_EQ(run_tamp({"eval", cnn, "--dataset", "fashion-mnist", "--input", "nosuch"}).code, 2);
  EXPECT_EQ(run_tamp({"eval", cnn, "--dataset", "fashion-mnist", "--limit", "0"}).code, 2);
  TempDir empty;
  const CliResult r =
      run_tamp({"eval", cnn, "--dataset", "fashion-mnist", "--data-dir", empty.path().string()});
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_NE(r.err.find("dataset-fashion-mnist"), std::string::npos)
      << "names the Debian package: " << r.err;
}

}  // namespace
}  // namespace tamp::test
