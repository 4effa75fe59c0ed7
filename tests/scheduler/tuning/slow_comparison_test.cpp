// The strategies compared on the Fashion-MNIST CNN (tests/data/models/cnn.onnx trained 600
// steps here), evaluated on the first 2000 test images. Prints the two tables of the
// README's tuning section (ctest --preset slow, or tuning_tests --gtest_filter='Slow*'):
//  A. first meet: per-op int8/fp32, granularity, scheme, calibration; criterion relative
//     0.2 % (all-int8 min-max misses it); objective size; stop at the first config meeting it.
//  B. keep improving: the same plus per-layer sparsity {0, 0.5, 0.75, 0.9, 0.95}; criterion
//     relative 1 %; 30 trials.
#include <tamp/scheduler/tuning/quant_tuning.h>
#include <tamp/scheduler/tuning/tuner.h>

#include "tuning_test_support.h"

#include <gtest/gtest.h>

#include <chrono>

namespace tamp::tuning {
namespace {

void compare(const nn::Graph& trained, const QuantTuningOptions& o, const std::string& criterion, ExitPolicy exit) {
  std::printf("| strategy | met | trials to first meet | trial of best / trials | best size (%% of fp32) | best top-1 (fp32) | "
              "ops in fp32 | seconds |\n|---|---|---|---|---|---|---|---|\n");
  for (const std::string name : {"basic", "mse", "exhaustive", "random", "bayesian", "tpe"}) {
    QuantTuningProblem p(trained, o);
    auto s = make_strategy(name, 1);
    const auto t0 = std::chrono::steady_clock::now();
    TuningResult r = tune(p, *s, {.criterion = AccuracyCriterion::parse(criterion), .exit = exit});
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    int first = -1;
    for (const auto& h : r.history) {
      if (h.meets) {
        first = h.trial + 1;
        break;
      }
    }
    EXPECT_EQ(p.calibration_passes(), 1);
    std::printf("| %s | %s | %s | %d / %d | %.1f | %.4f (%.4f) | %zu | %.0f |\n", name.c_str(), r.met ? "yes" : "no",
                first < 0 ? "-" : std::to_string(first).c_str(), r.best->trial + 1, r.trials,
                100 * r.best->outcome.objective / r.baseline.objective, r.best->outcome.accuracy, r.baseline.accuracy,
                r.fallbacks.size(), secs);
    std::fflush(stdout);
  }
}

TEST(SlowStrategyComparison, FashionMnistCnn) {
  nn::GraphModule m(io::load_onnx_graph(test::source_dir() + "/tests/data/models/cnn.onnx"));
  Trainer(m, {}, {.train = test::fashion_mnist().train, .epochs = 1, .max_steps_per_epoch = 600, .batch_size = 64,
                  .optimizer = SGD{.lr = 0.05, .momentum = 0.9}})
      .run();
  const nn::Graph trained = m.export_graph();
  QuantTuningOptions o;
  o.calibration = test::fashion_mnist().train->slice(0, 512);
  o.eval = test::fashion_mnist().test->slice(0, 2000);
  o.eval_options.batch_size = 250;
  std::printf("A. first meet, relative 0.2 %%, objective size, at most 40 trials\n");
  compare(trained, o, "relative:0.002", {.max_trials = 40});
  std::printf("B. keep improving with sparsity levels, relative 1 %%, objective size, 30 trials\n");
  o.sparsities = {"0", "0.5", "0.75", "0.9", "0.95"};
  compare(trained, o, "relative:0.01", {.max_trials = 30, .stop_at_first = false});
}

}  // namespace
}  // namespace tamp::tuning
