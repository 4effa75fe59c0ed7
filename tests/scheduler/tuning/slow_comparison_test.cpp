// The strategies compared on the Fashion-MNIST CNN (tests/data/models/cnn.onnx trained 600
// steps here), evaluated on the first 2000 test images. Prints the two tables of the
// README's tuning section (ctest --preset slow, or tuning_tests --gtest_filter='Slow*'):
//  A. first meet on the CNN made range-hostile (conv1's busiest output channel x300, its
//     input slice in conv2 divided by 300: ReLU and MaxPool keep the float function, uint8
//     activations do not): per-op int8/fp32, granularity, scheme, calibration; criterion
//     relative 1 %; objective size; stop at the first config meeting it.
//  B. keep improving: the same plus per-layer sparsity {0, 0.5, 0.75, 0.9, 0.95}; criterion
//     relative 1 %; 30 trials.
#include <tamp/scheduler/tuning/quant_tuning.h>
#include <tamp/scheduler/tuning/tuner.h>

#include "tuning_test_support.h"

#include <gtest/gtest.h>

#include <chrono>

namespace tamp::tuning {
namespace {

void compare(const nn::Graph& trained, const QuantTuningOptions& o, const std::string& criterion,
             ExitPolicy exit) {
  std::printf(
      "| strategy | met | trials to first meet | trial of best / trials | best size (%% of fp32) | "
      "best top-1 (fp32) | "
      "ops in fp32 | seconds |\n|---|---|---|---|---|---|---|---|\n");
  for (const std::string name : {"basic", "mse", "exhaustive", "random", "bayesian", "tpe"}) {
    QuantTuningProblem p(trained, o);
    auto s = make_strategy(name, 1);
    const auto t0 = std::chrono::steady_clock::now();
    TuningResult r = tune(p, *s, {.criterion = AccuracyCriterion::parse(criterion), .exit = exit});
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    int first = -1;
    for (const auto& h : r.history) {
      if (h.meets) {
        first = h.trial + 1;
        break;
      }
    }
    EXPECT_EQ(p.calibration_passes(), 1);
    std::printf("| %s | %s | %s | %d / %d | %.1f | %.4f (%.4f) | %zu | %.0f |\n", name.c_str(),
                r.met ? "yes" : "no", first < 0 ? "-" : std::to_string(first).c_str(),
                r.best->trial + 1, r.trials, 100 * r.best->outcome.objective / r.baseline.objective,
                r.best->outcome.accuracy, r.baseline.accuracy, r.fallbacks.size(), secs);
    std::fflush(stdout);
  }
}

// conv1's most active output channel (after its Relu, on 256 training images) scaled by
// `factor`, its input slice in conv2 divided by it.
nn::Graph hostile_cnn(nn::Graph g, float factor) {
  std::vector<const nn::Node*> convs;
  for (const auto& n : g.nodes)
    if (n.op_type == "Conv") convs.push_back(&n);
  EXPECT_GE(convs.size(), 2u);
  const auto relu = g.consumers(convs[0]->outputs[0]);
  EXPECT_EQ(relu.size(), 1u);
  const std::string act = g.nodes[static_cast<size_t>(relu[0])].outputs[0];
  int64_t channel = 0;
  {
    nn::GraphModule m(g);
    m.eval();
    NoGradGuard no_grad;
    const Tensor x = test::fashion_mnist().train->slice(0, 256)->x();
    const Tensor a =
        m.forward({{g.inputs[0].name, Variable(x)}}, {act}).at(act).value();  // (N, C, H, W)
    const int64_t n = a.dim(0), c = a.dim(1), hw = a.dim(2) * a.dim(3);
    double best = -1;
    for (int64_t ch = 0; ch < c; ++ch) {
      double sum = 0;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < hw; ++j) sum += a.data<float>()[(i * c + ch) * hw + j];
      if (sum > best) {
        best = sum;
        channel = ch;
      }
    }
  }
  Tensor w1 = g.initializers.at(convs[0]->inputs[1]).clone();  // [32, 1, 3, 3]
  Tensor b1 = g.initializers.at(convs[0]->inputs[2]).clone();
  Tensor w2 = g.initializers.at(convs[1]->inputs[1]).clone();  // [64, 32, 3, 3]
  const int64_t k1 = w1.numel() / w1.dim(0), k2 = w2.dim(2) * w2.dim(3);
  for (int64_t i = 0; i < k1; ++i) w1.data<float>()[channel * k1 + i] *= factor;
  b1.data<float>()[channel] *= factor;
  for (int64_t o = 0; o < w2.dim(0); ++o) {
    for (int64_t i = 0; i < k2; ++i) w2.data<float>()[(o * w2.dim(1) + channel) * k2 + i] /= factor;
  }
  const std::string n1 = convs[0]->inputs[1], nb = convs[0]->inputs[2], n2 = convs[1]->inputs[1];
  g.initializers[n1] = w1;
  g.initializers[nb] = b1;
  g.initializers[n2] = w2;
  return g;
}

TEST(SlowStrategyComparison, FashionMnistCnn) {
  nn::GraphModule m(io::load_onnx_graph(test::source_dir() + "/tests/data/models/cnn.onnx"));
  Trainer(m, {},
          {.train = test::fashion_mnist().train,
           .epochs = 1,
           .max_steps_per_epoch = 600,
           .batch_size = 64,
           .optimizer = SGD{.lr = 0.05, .momentum = 0.9}})
      .run();
  const nn::Graph trained = m.export_graph();
  QuantTuningOptions o;
  o.calibration = test::fashion_mnist().train->slice(0, 512);
  o.eval = test::fashion_mnist().test->slice(0, 2000);
  o.eval_options.batch_size = 250;
  std::printf(
      "A. range-hostile CNN, first meet, relative 1 %%, objective size, at most 40 trials\n");
  compare(hostile_cnn(trained, 300.0f), o, "relative:0.01", {.max_trials = 40});
  std::printf("B. keep improving with sparsity levels, relative 1 %%, objective size, 30 trials\n");
  o.sparsities = {"0", "0.5", "0.75", "0.9", "0.95"};
  compare(trained, o, "relative:0.01", {.max_trials = 30, .stop_at_first = false});
}

}  // namespace
}  // namespace tamp::tuning
