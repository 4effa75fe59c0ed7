// The strategies compared on the Fashion-MNIST CNN (tests/data/models/cnn.onnx trained 600
// steps here): per-op int8/fp32, granularity, scheme, calibration and per-layer sparsity
// {0, 0.25, 0.5, 0.75}, criterion relative 1 %, objective size, keep improving for 30
// trials. Prints the table of the README's tuning section (ctest --preset slow, or
// tuning_tests --gtest_filter='Slow*').
#include <tamp/scheduler/tuning/quant_tuning.h>
#include <tamp/scheduler/tuning/tuner.h>

#include "tuning_test_support.h"

#include <gtest/gtest.h>

#include <chrono>

namespace tamp::tuning {
namespace {

TEST(SlowStrategyComparison, FashionMnistCnn) {
  nn::GraphModule m(io::load_onnx_graph(test::source_dir() + "/tests/data/models/cnn.onnx"));
  Trainer(m, {}, {.train = test::fashion_mnist().train, .epochs = 1, .max_steps_per_epoch = 600, .batch_size = 64,
                  .optimizer = SGD{.lr = 0.05, .momentum = 0.9}})
      .run();
  const nn::Graph trained = m.export_graph();
  QuantTuningOptions o;
  o.sparsities = {"0", "0.25", "0.5", "0.75"};
  o.calibration = test::fashion_mnist().train->slice(0, 512);
  o.eval = test::fashion_mnist().test->slice(0, 1000);
  o.eval_options.batch_size = 250;
  const int kTrials = 30;
  std::printf("| strategy | trials to first meet | trial of best | best size (%% of fp32) | best accuracy | seconds |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (const std::string name : {"basic", "mse", "exhaustive", "random", "bayesian", "tpe"}) {
    QuantTuningProblem p(trained, o);
    auto s = make_strategy(name, 1);
    const auto t0 = std::chrono::steady_clock::now();
    TuningResult r = tune(p, *s, {.criterion = AccuracyCriterion::parse("relative:0.01"),
                                  .exit = {.max_trials = kTrials, .stop_at_first = false}});
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    int first = -1;
    for (const auto& h : r.history) {
      if (h.meets) {
        first = h.trial + 1;
        break;
      }
    }
    ASSERT_TRUE(r.met) << name << ": " << r.message;
    EXPECT_EQ(p.calibration_passes(), 1);
    std::printf("| %s | %d | %d of %d | %.1f | %.4f (fp32 %.4f) | %.0f |\n", name.c_str(), first, r.best->trial + 1,
                r.trials, 100 * r.best->outcome.objective / r.baseline.objective, r.best->outcome.accuracy,
                r.baseline.accuracy, secs);
    std::fflush(stdout);
  }
}

}  // namespace
}  // namespace tamp::tuning
