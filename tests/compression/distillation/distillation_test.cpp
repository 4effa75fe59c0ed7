// Distillation and self-distillation components: bad input, the frozen teacher, projections
// trained with the student and dropped at export, and losses that fall.
#include <tamp/compression/distillation/distillation.h>
#include <tamp/compression/distillation/self_distillation.h>
#include <tamp/nn/loss.h>
#include <tamp/scheduler/trainer.h>

#include "compression/pruning/prune_test_support.h"
#include "support/expect.h"

#include <gtest/gtest.h>

using namespace tamp;
using namespace tamp::compression;

namespace {

std::shared_ptr<nn::GraphModule> module(nn::Graph g) {
  return std::make_shared<nn::GraphModule>(std::move(g));
}

}  // namespace

TEST(Distillation, MissingValueNamesAreNamed) {
  nn::GraphModule student(test::mlp_graph(16, 32, 8));
  Distillation bad_student(module(test::mlp_graph(16, 64, 8)),
                           {.layers = {{.student = "nope", .teacher = "h"}}});
  std::string what =
      test::error_message([&] { bad_student.attach(student, nn::local_collective()); });
  EXPECT_NE(what.find("student has no value named 'nope'"), std::string::npos) << what;
  nn::GraphModule student2(test::mlp_graph(16, 32, 8));
  Distillation bad_teacher(module(test::mlp_graph(16, 64, 8)),
                           {.layers = {{.student = "h", .teacher = "/fc9"}}});
  what = test::error_message([&] { bad_teacher.attach(student2, nn::local_collective()); });
  EXPECT_NE(what.find("teacher has no value named '/fc9'"), std::string::npos) << what;
}

TEST(Distillation, TeacherWithOtherOutputShapeIsRejected) {
  nn::GraphModule student(test::mlp_graph(16, 32, 8));
  Distillation kd(module(test::mlp_graph(16, 32, 5)), {});
  const std::string what = test::error_message([&] { kd.attach(student, nn::local_collective()); });
  EXPECT_NE(what.find("teacher's output 'logits' has shape [2, 5]"), std::string::npos) << what;
  EXPECT_NE(what.find("student's output 'logits' has [2, 8]"), std::string::npos) << what;
}

TEST(Distillation, RejectsBadOptions) {
  auto t = module(test::mlp_graph(16, 32, 8));
  EXPECT_THROW(Distillation(t, {.temperature = 0}), Error);
  EXPECT_THROW(Distillation(t, {.alpha = 1.5}), Error);
  EXPECT_THROW(Distillation(t, {.logits = false}), Error);
  EXPECT_THROW(Distillation(nullptr, {}), Error);
  nn::GraphModule student(test::mlp_graph(16, 32, 8));
  Distillation no_projection(module(test::mlp_graph(16, 64, 8)),
                             {.layers = {{.student = "h", .teacher = "h", .project = false}}});
  EXPECT_THROW(no_projection.attach(student, nn::local_collective()), Error);
  EXPECT_THROW(SelfDistillation({}), Error);
  nn::GraphModule m(test::mlp_graph(16, 32, 8));
  SelfDistillation sd({.pairs = {{.shallow = "missing"}}});
  EXPECT_NE(test::error_message([&] {
              sd.attach(m, nn::local_collective());
            }).find("model has no value named 'missing'"),
            std::string::npos);
}

TEST(Distillation, TeacherIsFrozenAndKeepsNoTape) {
  auto teacher = module(test::mlp_graph(16, 32, 8, 11));
  nn::GraphModule student(test::mlp_graph(16, 32, 8));
  Distillation kd(teacher, {.temperature = 2, .alpha = 0.7});
  kd.attach(student, nn::local_collective());
  EXPECT_FALSE(teacher->is_training());
  for (const auto& [name, p] : teacher->named_parameters()) EXPECT_FALSE(p.requires_grad()) << name;
  EXPECT_DOUBLE_EQ(kd.task_loss_weight(), 1 - 0.7);
  Generator rng(3);
  const Variable x(test::random_tensor({4, 16}, rng));
  const std::map<std::string, Variable> inputs{{"input", x}};
  auto values = student.forward(inputs, kd.extra_outputs());
  const Variable labels(Tensor::zeros({4}, DType::kInt64));
  Variable loss = kd.extra_loss({inputs, labels, values}, {});
  EXPECT_TRUE(loss.value().item() > 0);
  EXPECT_EQ(loss.grad_fn() != nullptr, true);
  loss.backward();
  for (const auto& [name, p] : teacher->named_parameters())
    EXPECT_FALSE(p.grad().defined()) << name;
  EXPECT_TRUE(student.parameter("fc1.weight").grad().defined());
  // The logit term is alpha * T^2 KL, computed from the teacher's eval-mode logits.
  NoGradGuard no_grad;
  const Tensor t = teacher->forward(x).value();
  const double kl = nn::kl_div_distill(values.at("logits"), Variable(t), 2).value().item();
  EXPECT_NEAR(loss.value().item(), 0.7 * kl, 1e-6);
}

TEST(Distillation, ProjectionsTrainWithTheStudentAndAreNotExported) {
  auto teacher = module(test::mlp_graph(16, 48, 8, 12));
  nn::GraphModule student(test::mlp_graph(16, 24, 8));
  auto kd = std::make_shared<Distillation>(
      teacher, DistillationOptions{.temperature = 2,
                                   .layers = {{.student = "r",
                                               .teacher = "r",
                                               .loss = distillation::FeatureLoss::kMSE,
                                               .weight = 1}}});
  kd->attach(student, nn::local_collective());
  const auto params = kd->trainable_parameters();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].first, "distillation.layer0.weight");
  EXPECT_EQ(params[0].second.shape(), (Shape{48, 24}));  // Linear(24 -> 48)
  const Tensor before = params[0].second.value().clone();
  // attach was done above; a Trainer attaches again, so train a fresh component.
  // alpha 1: the (untrained) teacher alone; its logits and its activations are what to learn.
  auto kd2 = std::make_shared<Distillation>(
      teacher, DistillationOptions{
                   .temperature = 2, .alpha = 1, .layers = {{.student = "r", .teacher = "r"}}});
  nn::GraphModule student2(test::mlp_graph(16, 24, 8));
  Trainer(student2, {kd2}, test::quick_training(test::synthetic_data({16}, 512, 8), 3)).run();
  const auto trained = kd2->trainable_parameters();
  double moved = 0;
  for (int64_t i = 0; i < before.numel(); ++i)
    moved += std::fabs(trained[0].second.value().at(i) - before.at(i));
  EXPECT_GT(moved, 1e-3);
  const auto h = kd2->history();
  ASSERT_EQ(h.size(), 3u);
  EXPECT_LT(h[2].at("layer0"), h[0].at("layer0"));
  EXPECT_LT(h[2].at("logits"), h[0].at("logits"));
  // The student's graph gained nothing: export holds its own initializers only.
  const nn::Graph exported = student2.export_graph();
  EXPECT_EQ(exported.initializers.size(), 4u);
  for (const auto& [name, t] : exported.initializers)
    EXPECT_EQ(name.find("distillation"), std::string::npos);
  EXPECT_EQ(kd2->state().count("distillation.layer0.weight"), 1u);
}

TEST(Distillation, IntermediateLayersOnlyWithCosineAndKl) {
  auto teacher = module(test::conv_bn_graph(16, 16, 32, 13));
  for (auto loss : {distillation::FeatureLoss::kCosine, distillation::FeatureLoss::kKL}) {
    nn::GraphModule student(test::conv_bn_graph(8, 8, 16));
    auto kd = std::make_shared<Distillation>(
        teacher, DistillationOptions{
                     .logits = false,
                     .layers = {{.student = "p1", .teacher = "p1", .loss = loss},
                                {.student = "h", .teacher = "h", .loss = loss, .weight = 0.5}}});
    Trainer(student, {kd}, test::quick_training(test::synthetic_data({1, 12, 12}, 256, 10), 3))
        .run();
    EXPECT_DOUBLE_EQ(kd->task_loss_weight(), 1.0);
    EXPECT_EQ(kd->trainable_parameters().size(), 4u);  // a 1x1 conv and a linear projection
    const auto& h = kd->history();
    ASSERT_EQ(h.size(), 3u);
    EXPECT_LT(h[2].at("total"), h[0].at("total")) << distillation::feature_loss_name(loss);
  }
}

namespace {

// The component's parameters as attach (which a Trainer calls again) initialises them: the
// head seed is fixed, so a copy attached to another model starts from the same values.
std::map<std::string, Tensor> sd_parameters_after_attach(nn::Graph g,
                                                         const SelfDistillationOptions& options) {
  nn::GraphModule m(std::move(g));
  SelfDistillation copy(options);
  copy.attach(m, nn::local_collective());
  std::map<std::string, Tensor> out;
  for (const auto& [name, v] : copy.trainable_parameters()) out[name] = v.value().clone();
  return out;
}

}  // namespace

TEST(SelfDistillation, HeadsLearnAndLossesFall) {
  nn::GraphModule m(test::conv_bn_graph());
  // head0 on the first block (8 channels, 5x5, pooled to 3x3 cells of 2x2, the last one cut:
  // 72 features); head1 on the flattened second block (72 features), which is also pulled
  // towards the fc1 activations (16) through a projection. Both heads: 64 hidden units.
  const SelfDistillationOptions options{.temperature = 3,
                                        .pairs = {{.shallow = "p1"},
                                                  {.shallow = "f",
                                                   .deep = "r3",
                                                   .kd_weight = 1,
                                                   .label_weight = 0.3,
                                                   .feature_weight = 0.1}}};
  auto sd = std::make_shared<SelfDistillation>(options);
  const auto before = sd_parameters_after_attach(test::conv_bn_graph(), options);
  Trainer(m, {sd}, test::quick_training(test::synthetic_data({1, 12, 12}, 512, 10), 4)).run();
  std::map<std::string, Shape> params;
  for (const auto& [name, v] : sd->trainable_parameters()) params[name] = v.shape();
  EXPECT_EQ(params.at("self_distillation.head0.hidden.weight"), (Shape{64, 72}));
  EXPECT_EQ(params.at("self_distillation.head0.out.weight"), (Shape{10, 64}));
  EXPECT_EQ(params.at("self_distillation.head1.hidden.weight"), (Shape{64, 72}));
  EXPECT_EQ(params.at("self_distillation.head1.out.weight"), (Shape{10, 64}));
  EXPECT_EQ(params.at("self_distillation.proj1.weight"), (Shape{16, 72}));
  const auto& h = sd->history();
  ASSERT_EQ(h.size(), 4u);
  for (const char* term :
       {"head0.kd", "head0.ce", "head1.kd", "head1.ce", "head1.feature", "total"}) {
    EXPECT_TRUE(h[0].count(term)) << term;
  }
  // On this synthetic task (labels a random linear map of Gaussian pixels) the heads' label
  // losses fall; the KD and feature terms follow targets that the model itself is still
  // forming from scratch, so they are checked on Fashion-MNIST instead
  // (self_distillation_fashion_test.cpp: every term falls there).
  for (const char* term : {"head0.ce", "head1.ce"}) EXPECT_LT(h[3].at(term), h[0].at(term)) << term;
  for (const auto& [name, v] : sd->trainable_parameters()) {
    double moved = 0;
    for (int64_t i = 0; i < v.value().numel(); ++i)
      moved += std::fabs(v.value().at(i) - before.at(name).at(i));
    EXPECT_GT(moved, 1e-4) << name;
  }
  EXPECT_EQ(m.export_graph().initializers.size(), test::conv_bn_graph().initializers.size());
}

TEST(SelfDistillation, HeadGridAndHiddenWidthShapeTheHeads) {
  auto shapes = [](SelfDistillationOptions o) {
    nn::GraphModule m(test::conv_bn_graph());
    o.pairs = {{.shallow = "p1"}};
    SelfDistillation sd(o);
    sd.attach(m, nn::local_collective());
    std::map<std::string, Shape> params;
    for (const auto& [name, v] : sd.trainable_parameters()) params[name] = v.shape();
    return params;
  };
  // Global average pool + one Linear: the channels only.
  auto p = shapes({.head_grid = 1, .head_hidden = 0});
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p.at("self_distillation.head0.weight"), (Shape{10, 8}));
  // 5x5 on a grid of 2: windows of 3x3, one row and column of padding left out: 2x2 cells.
  p = shapes({.head_grid = 2, .head_hidden = 0});
  EXPECT_EQ(p.at("self_distillation.head0.weight"), (Shape{10, 32}));
  // A grid at least the value's size keeps every position.
  p = shapes({.head_grid = 8, .head_hidden = 16});
  EXPECT_EQ(p.at("self_distillation.head0.hidden.weight"), (Shape{16, 200}));
  EXPECT_EQ(p.at("self_distillation.head0.out.weight"), (Shape{10, 16}));
  EXPECT_THROW(SelfDistillation({.pairs = {{.shallow = "p1"}}, .head_grid = 0}), Error);
  EXPECT_THROW(SelfDistillation({.pairs = {{.shallow = "p1"}}, .head_hidden = -1}), Error);
}
