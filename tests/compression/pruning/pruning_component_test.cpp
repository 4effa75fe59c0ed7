// The Pruning component through a fake step counter and through the Trainer: schedules hit
// their targets at the scheduled steps, masks apply to gradients and weights, survive export,
// stay locked across stages and next to FakeQuantize nodes; selection, overrides and bad input.
#include <tamp/compression/pruning/checker.h>
#include <tamp/compression/pruning/pruning.h>
#include <tamp/compression/pruning/targets.h>
#include <tamp/nn/loss.h>
#include <tamp/nn/sgd.h>
#include <tamp/scheduler/trainer.h>

#include "compression/pruning/prune_test_support.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace tamp;
using namespace tamp::compression;
using namespace tamp::compression::pruning;
using tamp::test::count_zeros;

namespace {

std::shared_ptr<Pruning> make(PruningOptions o) { return std::make_shared<Pruning>(std::move(o)); }

// One fake training step: gradients, the hooks of the component, an optimizer-like move of
// every weight (so re-applying the masks matters).
void fake_step(nn::GraphModule& m, Component& c, int64_t step, Generator& rng) {
  StepInfo at{0, step, 100, 100};
  c.on_step_begin(at);
  test::fake_gradients(m, rng);
  c.on_after_backward(at);
  for (auto& [name, p] : m.named_parameters()) {
    Tensor v = p.value();
    const Tensor noise = test::random_tensor(p.shape(), rng, 0.01);
    for (int64_t i = 0; i < v.numel(); ++i) v.data<float>()[i] += noise.data<float>()[i];
  }
  c.on_after_step(at);
}

}  // namespace

TEST(Pruning, ScheduleHitsItsTargetsAtExactlyTheScheduledSteps) {
  for (Curve curve : {Curve::kLinear, Curve::kCubic, Curve::kExponential, Curve::kCosine}) {
    nn::GraphModule m(test::mlp_graph(16, 32, 8));
    auto p = make({.pattern = "unstructured",
                   .target_sparsity = 0.8,
                   .schedule = Schedule::gradual(curve, 10, 40, 10)});
    p->attach(m, nn::local_collective());
    p->on_stage_begin({0, 0, 100, 100});
    const ScheduleClock clock(Schedule::gradual(curve, 10, 40, 10), 100);
    Generator rng(5);
    for (int64_t step = 0; step < 50; ++step) {
      fake_step(m, *p, step, rng);
      const double target = clock.target(step, 0, 0.8);
      EXPECT_DOUBLE_EQ(p->scheduled_sparsity(step), target);
      for (const char* w : {"fc1.weight", "fc2.weight"}) {
        const Tensor v = m.parameter(w).value();
        const double expected = target * static_cast<double>(v.numel());
        EXPECT_LE(std::abs(static_cast<double>(count_zeros(v)) - expected), 0.5)
            << curve_name(curve) << " step " << step << " " << w;
      }
    }
    EXPECT_EQ(count_zeros(m.parameter("fc1.weight").value()), std::llround(0.8 * 512));
  }
}

TEST(Pruning, GradientCriteriaPruneInTheLoop) {
  for (Criterion c :
       {Criterion::kGradient, Criterion::kSnip, Criterion::kSnipMomentum, Criterion::kMovement}) {
    nn::GraphModule m(test::mlp_graph(16, 32, 8));
    auto p = make(
        {.pattern = "2:4", .criterion = c, .schedule = Schedule::gradual(Curve::kCubic, 2, 8, 2)});
    p->attach(m, nn::local_collective());
    p->on_stage_begin({0, 0, 100, 100});
    Generator rng(6);
    for (int64_t step = 0; step < 10; ++step) fake_step(m, *p, step, rng);
    const Tensor w = m.parameter("fc1.weight").value();
    EXPECT_TRUE(check_pattern(w, WeightLayout::of("Gemm", w.shape()), Pattern::parse("2:4")).valid)
        << criterion_name(c);
    EXPECT_EQ(count_zeros(w), w.numel() / 2) << criterion_name(c);
  }
}

TEST(Pruning, SnipMomentumKeepsTheWeightsWithLargestAccumulatedSensitivity) {
  nn::GraphModule m(test::mlp_graph(4, 4, 2));
  auto p = make({.pattern = "unstructured",
                 .target_sparsity = 0.5,
                 .criterion = Criterion::kSnipMomentum,
                 .schedule = Schedule::one_shot(1),
                 .include = {"fc1.weight"}});
  p->attach(m, nn::local_collective());
  p->on_stage_begin({0, 0, 10, 10});
  Variable w = m.parameter("fc1.weight");
  w.set_value(Tensor::ones({4, 4}));
  // Step 0: element i gets |w g| = i; step 1: (15 - i). Accumulated: 0.9 i + 15 - i = 15 - 0.1 i,
  // so the highest indices score lowest and go, although step 1 alone would prune the lowest ones.
  std::vector<float> g0(16), g1(16);
  for (int i = 0; i < 16; ++i) g0[i] = static_cast<float>(i), g1[i] = static_cast<float>(15 - i);
  w.set_grad(Tensor::from_vector<float>({4, 4}, g0));
  p->on_after_backward({0, 0, 10, 10});
  w.set_grad(Tensor::from_vector<float>({4, 4}, g1));
  p->on_after_backward({0, 1, 10, 10});
  const auto v = w.value().to_vector<float>();
  for (int i = 0; i < 16; ++i) EXPECT_EQ(v[i], i < 8 ? 1.0f : 0.0f) << i;
}

TEST(Pruning, MasksApplyToGradientsThroughHooksAndAfterEachStep) {
  nn::GraphModule m(test::mlp_graph(16, 32, 8));
  auto p = make({.pattern = "2:4"});
  p->attach(m, nn::local_collective());
  p->on_stage_begin({0, 0, 10, 10});
  nn::Sgd opt(m.named_parameters(), {.lr = 0.1, .momentum = 0.9});
  auto data = test::synthetic_data({16}, 32, 8);
  const nn::Batch b = data->get_batch([] {
    std::vector<int64_t> i(32);
    for (int k = 0; k < 32; ++k) i[k] = k;
    return i;
  }());
  Variable w = m.parameter("fc1.weight");
  for (int64_t step = 0; step < 3; ++step) {
    Variable loss = nn::cross_entropy(m.forward(Variable(b.x)), Variable(b.y));
    loss.backward();
    p->on_after_backward({0, step, 10, 10});
    const Tensor mask = p->masks().at("fc1.weight");
    const Tensor g = w.grad();
    int64_t masked = 0;
    for (int64_t i = 0; i < g.numel(); ++i) {
      if (mask.data<float>()[i] == 0) {
        EXPECT_EQ(g.data<float>()[i], 0.0f) << "step " << step << " element " << i;
        ++masked;
      }
    }
    EXPECT_EQ(masked, w.value().numel() / 2);
    opt.step();
    opt.zero_grad();
    p->on_after_step({0, step, 10, 10});
    EXPECT_EQ(count_zeros(w.value()), w.value().numel() / 2);
  }
  p->finalize(m);
  // Exported: pruned weights are exact zeros in the file, and the file passes the checker.
  test::TempDir dir;
  io::save_onnx(m, dir.file("pruned.onnx"));
  const nn::Graph g = io::load_onnx_graph(dir.file("pruned.onnx"));
  for (const auto& s : sparsity_report(g)) {
    EXPECT_EQ(s.structure, "2:4") << s.weight << " " << s.summary;
    EXPECT_DOUBLE_EQ(s.sparsity, 0.5) << s.weight;
  }
}

TEST(Pruning, EveryPatternHoldsAfterTrainingAndExport) {
  struct Case {
    const char* pattern;
    double sparsity;
    int64_t block;
  };
  for (const Case& c : {Case{"2:4", 0.5, 1}, Case{"1:2", 0.5, 1}, Case{"4:8", 0.5, 1},
                        Case{"1:4", 0.75, 1}, Case{"4x1", 0.6, 4}, Case{"1x4", 0.6, 4},
                        Case{"2x2", 0.6, 4}, Case{"unstructured", 0.7, 1}}) {
    nn::GraphModule m(test::mlp_graph(32, 64, 8));
    auto p = make({.pattern = c.pattern,
                   .target_sparsity = c.sparsity,
                   .schedule = Schedule::gradual(Curve::kCubic, 0, 20, 5)});
    auto opts = test::quick_training(test::synthetic_data({32}, 512, 8), 2);
    Trainer(m, {p}, opts).run();
    test::TempDir dir;
    io::save_onnx(m, dir.file("m.onnx"));
    const nn::Graph g = io::load_onnx_graph(dir.file("m.onnx"));
    for (const auto& w : {std::string("fc1.weight"), std::string("fc2.weight")}) {
      const Tensor& t = g.initializers.at(w);
      const PatternCheck check =
          check_pattern(t, WeightLayout::of("Gemm", t.shape()), Pattern::parse(c.pattern));
      EXPECT_TRUE(check.valid) << c.pattern << " " << w << ": " << check.detail;
      const double expected = c.sparsity * static_cast<double>(t.numel());
      EXPECT_LE(std::abs(static_cast<double>(count_zeros(t)) - expected), c.block / 2.0 + 1e-9)
          << c.pattern << " " << w;
    }
  }
}

TEST(Pruning, AMatMulReadingATransposedWeightIsPrunedAlongItsReduction) {
  // torch's training-mode export of nn.Linear on (N, S, C) inputs: MatMul(x, Transpose(W)).
  Generator rng(3);
  nn::Graph g;
  g.inputs.push_back({"input", DType::kFloat32, {nn::Dim::symbolic("batch"), nn::Dim::of(16)}});
  g.initializers["fc.weight"] = test::random_tensor({8, 16}, rng);
  g.nodes.push_back({"t",
                     "Transpose",
                     "",
                     {"fc.weight"},
                     {"wt"},
                     nn::attrs_with({{"perm", std::vector<int64_t>{1, 0}}})});
  g.nodes.push_back({"mm", "MatMul", "", {"input", "wt"}, {"logits"}});
  g.outputs.push_back({"logits", DType::kFloat32, {nn::Dim::symbolic("batch"), nn::Dim::of(8)}});
  nn::GraphModule m(g);
  prune_once(m, {.pattern = "2:4"});
  const Tensor w = m.parameter("fc.weight").value();
  EXPECT_TRUE(check_pattern(w, WeightLayout::of("Gemm", w.shape()), Pattern::parse("2:4"))
                  .valid);  // groups along K
  EXPECT_EQ(count_zeros(w), 64);
  const auto weights = find_prunable_weights(g);
  ASSERT_EQ(weights.size(), 1u);
  EXPECT_NE(weights[0].channel_problem.find("Transpose"), std::string::npos);  // its channels stay
}

TEST(Pruning, GlobalSparsityRanksAcrossLayers) {
  nn::Graph g = test::mlp_graph(32, 64, 16);
  // fc2's weights are 100x larger: a global threshold prunes mostly fc1.
  Tensor& w2 = g.initializers["fc2.weight"];
  for (int64_t i = 0; i < w2.numel(); ++i) w2.data<float>()[i] *= 100;
  nn::GraphModule m(std::move(g));
  auto reports = prune_once(m, {.pattern = "unstructured", .target_sparsity = 0.6, .global = true});
  const double z1 = static_cast<double>(count_zeros(m.parameter("fc1.weight").value()));
  const double z2 = static_cast<double>(count_zeros(m.parameter("fc2.weight").value()));
  EXPECT_LE(std::abs(z1 + z2 - 0.6 * (2048 + 1024)), 0.5);
  EXPECT_GT(z1 / 2048, 0.8);
  EXPECT_LT(z2 / 1024, 0.2);
  ASSERT_EQ(reports.size(), 2u);
}

TEST(Pruning, OverridesAndExclusionsByNameAndOpType) {
  {
    nn::GraphModule m(test::mlp_graph(16, 32, 8));
    prune_once(m, {.pattern = "unstructured",
                   .target_sparsity = 0.5,
                   .overrides = {{.match = "fc1\\..*", .sparsity = 0.25}}});
    EXPECT_EQ(count_zeros(m.parameter("fc1.weight").value()), 128);
    EXPECT_EQ(count_zeros(m.parameter("fc2.weight").value()), 128);
  }
  {
    nn::GraphModule m(test::mlp_graph(16, 32, 8));
    const auto r = prune_once(m, {.pattern = "2:4", .exclude = {"fc2.*"}});
    EXPECT_EQ(count_zeros(m.parameter("fc2.weight").value()), 0);
    EXPECT_EQ(count_zeros(m.parameter("fc1.weight").value()), 256);
    bool reported = false;
    for (const auto& l : r)
      reported = reported || (l.weight == "fc2.weight" && l.skipped == "excluded");
    EXPECT_TRUE(reported);
  }
  {
    nn::GraphModule m(test::mlp_graph(16, 32, 8));
    prune_once(m, {.pattern = "2:4",
                   .overrides = {{.match = "fc2.weight", .pattern = "1x4", .sparsity = 0.5}}});
    const Tensor w2 = m.parameter("fc2.weight").value();
    EXPECT_TRUE(
        check_pattern(w2, WeightLayout::of("Gemm", w2.shape()), Pattern::parse("1x4")).valid);
    EXPECT_EQ(count_zeros(w2), 128);
  }
  {
    nn::GraphModule m(test::mlp_graph(16, 32, 8));
    EXPECT_THROW(prune_once(m, {.pattern = "2:4", .exclude_op_types = {"Gemm"}}), Error);
    EXPECT_THROW(prune_once(m, {.pattern = "2:4", .overrides = {{.match = ".*", .exclude = true}}}),
                 Error);
  }
}

TEST(Pruning, IndivisibleWeightsStayDenseUnlessNamed) {
  nn::GraphModule cnn(io::load_onnx_graph(test::model_file("cnn")));
  const auto r = prune_once(cnn, {.pattern = "2:4"});
  bool conv1_skipped = false;
  for (const auto& l : r) {
    if (l.weight == "conv1.weight") {
      conv1_skipped = true;
      EXPECT_NE(l.skipped.find("input channels (1)"), std::string::npos) << l.skipped;
    } else {
      EXPECT_EQ(l.skipped, "") << l.weight;
      EXPECT_DOUBLE_EQ(l.sparsity, 0.5) << l.weight;
    }
  }
  EXPECT_TRUE(conv1_skipped);
  EXPECT_EQ(count_zeros(cnn.parameter("conv1.weight").value()), 0);

  nn::GraphModule again(io::load_onnx_graph(test::model_file("cnn")));
  try {
    prune_once(again, {.pattern = "2:4", .include = {"conv1.weight"}});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("conv1.weight"), std::string::npos) << what;
    EXPECT_NE(what.find("[32, 1, 3, 3]"), std::string::npos) << what;
    EXPECT_NE(what.find("2:4"), std::string::npos) << what;
  }
  nn::GraphModule blocks(io::load_onnx_graph(test::model_file("cnn")));
  EXPECT_THROW(prune_once(blocks, {.pattern = "4x1",
                                   .target_sparsity = 0.5,
                                   .overrides = {{.match = "fc2.weight", .sparsity = 0.5}}}),
               Error);  // fc2 has 10 outputs, named by the override
}

TEST(Pruning, RejectsBadInput) {
  nn::GraphModule m(test::mlp_graph(16, 32, 8));
  for (double s : {1.0, 1.5, -0.1, std::nan("")}) {
    EXPECT_THROW(Pruning({.pattern = "unstructured", .target_sparsity = s}), Error) << s;
  }
  EXPECT_THROW(Pruning({.pattern = "2:4", .target_sparsity = 0.6}), Error);
  EXPECT_THROW(Pruning({.pattern = "2:4", .global = true}), Error);
  EXPECT_THROW(Pruning({.pattern = "3:5:7"}), Error);
  EXPECT_THROW(prune_once(m, {.pattern = "unstructured"}), Error);  // no target sparsity
  EXPECT_THROW(prune_once(m, {.pattern = "2:4", .exclude = {"(unclosed"}}), Error);
  EXPECT_THROW(prune_once(m, {.pattern = "head", .target_sparsity = 0.5}),
               Error);  // no attention here
  EXPECT_THROW(prune_once(m, {.pattern = "2:4", .criterion = Criterion::kSnip}),
               Error);  // no gradient yet
  nn::GraphModule m2(test::mlp_graph(16, 32, 8));
  EXPECT_THROW(prune_once(m2, {.pattern = "unstructured",
                               .target_sparsity = 0.5,
                               .overrides = {{.match = "fc1.weight", .sparsity = 1.0}}}),
               Error);
}

TEST(Pruning, MasksStayLockedInLaterStages) {
  nn::GraphModule m(test::mlp_graph(32, 64, 8));
  auto data = test::synthetic_data({32}, 512, 8);
  Trainer(m, {make({.pattern = "2:4"})}, test::quick_training(data)).run();
  const Tensor zeros_after_1 = m.parameter("fc1.weight").value().clone();
  auto same_zeros = [&](const Tensor& now) {
    for (int64_t i = 0; i < now.numel(); ++i) {
      if ((zeros_after_1.data<float>()[i] == 0) != (now.data<float>()[i] == 0)) return false;
    }
    return true;
  };
  // Stage 2, no pruning component: the gradient hooks finalize left keep every zero.
  Trainer(m, {}, test::quick_training(data)).run();
  EXPECT_TRUE(same_zeros(m.parameter("fc1.weight").value()));
  // A fresh module from the exported graph has no hooks: a PatternLock keeps the zeros...
  nn::GraphModule reloaded(m.export_graph());
  auto lock = std::make_shared<PatternLock>();
  Trainer(reloaded, {lock}, test::quick_training(data)).run();
  EXPECT_TRUE(same_zeros(reloaded.parameter("fc1.weight").value()));
  EXPECT_EQ(lock->locked().at("fc1.weight"), 1024);
  // ...which is what moves them otherwise (the test can fail).
  nn::GraphModule unlocked(m.export_graph());
  Trainer(unlocked, {}, test::quick_training(data)).run();
  EXPECT_FALSE(same_zeros(unlocked.parameter("fc1.weight").value()));
  // A second pruning stage on top keeps the first stage's zeros and adds its own.
  nn::GraphModule more(m.export_graph());
  Trainer(more, {make({.pattern = "unstructured", .target_sparsity = 0.75})},
          test::quick_training(data))
      .run();
  const Tensor w = more.parameter("fc1.weight").value();
  for (int64_t i = 0; i < w.numel(); ++i) {
    if (zeros_after_1.data<float>()[i] == 0) {
      EXPECT_EQ(w.data<float>()[i], 0.0f) << i;
    }
  }
  EXPECT_EQ(count_zeros(w), 1536);
}

TEST(Pruning, CoexistsWithFakeQuantizeOnTheWeights) {
  // Gemm reads FakeQuantize(fc1.weight) as a QAT pass leaves it: pruning finds the weight
  // through it, and the fake-quantized weight keeps the exact zeros (fq(0) = 0).
  nn::Graph g = test::mlp_graph(32, 64, 8);
  g.opsets["tamp"] = 1;
  Tensor scale = Tensor::full({64}, 0.01);
  g.initializers["fc1.weight_scale"] = scale;
  g.initializers["fc1.weight_zp"] = Tensor::zeros({64});
  g.nodes.insert(g.nodes.begin(), nn::Node{"fq",
                                           "FakeQuantize",
                                           "tamp",
                                           {"fc1.weight", "fc1.weight_scale", "fc1.weight_zp"},
                                           {"fc1.weight_fq"},
                                           nn::attrs_with({{"axis", int64_t{0}}})});
  g.nodes[1].inputs[1] = "fc1.weight_fq";
  nn::GraphModule m(std::move(g));
  m.freeze("fc1\\.weight_(scale|zp)");  // a zero point kept integral, as QAT keeps it
  auto p = make({.pattern = "2:4"});
  Trainer(m, {p}, test::quick_training(test::synthetic_data({32}, 512, 8))).run();
  const Tensor w = m.parameter("fc1.weight").value();
  EXPECT_TRUE(check_pattern(w, WeightLayout::of("Gemm", w.shape()), Pattern::parse("2:4")).valid);
  {
    NoGradGuard no_grad;
    const Tensor fq = m.forward({{"input", Variable(Tensor::zeros({1, 32}))}}, {"fc1.weight_fq"})
                          .at("fc1.weight_fq")
                          .value();
    for (int64_t i = 0; i < w.numel(); ++i) {
      if (w.data<float>()[i] == 0) {
        EXPECT_EQ(fq.data<float>()[i], 0.0f);
      }
    }
  }

  // The other order: pruning first, then a rewrite inserting FakeQuantize (set_graph keeps the
  // Variables, hence the hooks).
  nn::GraphModule m2(test::mlp_graph(32, 64, 8));
  auto p2 = make({.pattern = "2:4"});
  p2->attach(m2, nn::local_collective());
  p2->prune_now();
  nn::Graph rewritten = m2.graph();
  rewritten.opsets["tamp"] = 1;
  rewritten.initializers["s"] = Tensor::full({64}, 0.01);
  rewritten.initializers["z"] = Tensor::zeros({64});
  rewritten.nodes.insert(rewritten.nodes.begin(), nn::Node{"fq",
                                                           "FakeQuantize",
                                                           "tamp",
                                                           {"fc1.weight", "s", "z"},
                                                           {"wq"},
                                                           nn::attrs_with({{"axis", int64_t{0}}})});
  rewritten.nodes[1].inputs[1] = "wq";
  m2.set_graph(rewritten);
  m2.freeze("s|z");
  Trainer(m2, {}, test::quick_training(test::synthetic_data({32}, 256, 8))).run();
  const Tensor w2 = m2.parameter("fc1.weight").value();
  EXPECT_TRUE(check_pattern(w2, WeightLayout::of("Gemm", w2.shape()), Pattern::parse("2:4")).valid);
}

TEST(Pruning, StateRoundTripsMasks) {
  nn::GraphModule m(test::mlp_graph(16, 32, 8));
  auto p = make(
      {.pattern = "2:4", .criterion = Criterion::kSnipMomentum, .schedule = Schedule::one_shot(1)});
  p->attach(m, nn::local_collective());
  p->on_stage_begin({0, 0, 10, 10});
  Generator rng(7);
  for (int64_t s = 0; s < 3; ++s) fake_step(m, *p, s, rng);
  const auto state = p->state();
  ASSERT_TRUE(state.count("fc1.weight.mask"));
  ASSERT_TRUE(state.count("fc1.weight.score"));
  nn::GraphModule m2(test::mlp_graph(16, 32, 8));
  auto q = make(
      {.pattern = "2:4", .criterion = Criterion::kSnipMomentum, .schedule = Schedule::one_shot(1)});
  q->attach(m2, nn::local_collective());
  q->load_state(state);
  EXPECT_EQ(q->masks().at("fc1.weight").to_vector<float>(),
            p->masks().at("fc1.weight").to_vector<float>());
  EXPECT_EQ(count_zeros(m2.parameter("fc1.weight").value()), 256);
  EXPECT_THROW(q->load_state({{"nope.mask", Tensor::ones({2})}}), Error);
}
