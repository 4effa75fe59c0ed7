// Optimizers against PyTorch 1.13: four steps on p = [0.5, -1, 2, 0.25] (float32) with the
// gradient of step t set to 0.3 cos(1.1 t + 0.7 i) - 0.05 i, as the script that printed the
// constants did (torch.optim.SGD / Adam / AdamW, defaults unless given). The float32 updates
// (kernels/optimizer_step.cpp) also run on every instruction set of the CPU against the
// float64 ones, over lengths that end inside a vector.
#include <tamp/nn/adam.h>
#include <tamp/nn/sgd.h>

#include "support/simd_targets.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>

namespace tamp::nn {
namespace {

Tensor grad_at(int t, double scale = 1) {
  std::vector<float> g(4);
  for (int i = 0; i < 4; ++i)
    g[i] = static_cast<float>(scale * (0.3 * std::cos(1.1 * t + 0.7 * i) - 0.05 * i));
  return Tensor::from_vector<float>({4}, g);
}

Variable make_param() {
  return Variable(Tensor::from_vector<float>({4}, {0.5f, -1.0f, 2.0f, 0.25f}), true);
}

void run_steps(Optimizer& opt, Variable& p, int steps,
               const std::function<double(int)>& scale = nullptr) {
  for (int t = 0; t < steps; ++t) {
    p.set_grad(grad_at(t, scale ? scale(t) : 1.0));
    opt.step();
  }
}

void expect_values(const Tensor& got, const std::vector<double>& want, double tol = 2e-6) {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_NEAR(got.at(static_cast<int64_t>(i)), want[i], tol * std::max(1.0, std::abs(want[i])))
        << "element " << i;
  }
}

TEST(Sgd, PlainMatchesTorch) {
  Variable p = make_param();
  Sgd opt({{"p", p}}, {.lr = 0.1});
  run_steps(opt, p, 4);
  expect_values(p.value(), {0.503671527, -0.947391212, 2.08620954, 0.348077416});
  EXPECT_TRUE(opt.state().empty());  // no momentum, no buffer
}

TEST(Sgd, MomentumDampeningWeightDecayMatchTorch) {
  Variable p = make_param();
  Sgd opt({{"p", p}}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01});
  run_steps(opt, p, 4);
  expect_values(p.value(), {0.416525692, -0.943828046, 2.15517592, 0.503350437});
  expect_values(opt.state().at("p.momentum_buffer"),
                {-0.0774992332, -0.485146552, -0.611590028, -0.719407678});
}

TEST(Sgd, NesterovMatchesTorch) {
  Variable p = make_param();
  Sgd opt({{"p", p}}, {.lr = 0.05, .momentum = 0.8, .weight_decay = 0.001, .nesterov = true});
  run_steps(opt, p, 4);
  expect_values(p.value(), {0.477442026, -0.948406756, 2.11176038, 0.396188945});
  expect_values(opt.state().at("p.momentum_buffer"),
                {-0.195419371, -0.505818188, -0.635834277, -0.616860271});
}

TEST(Sgd, RejectsNesterovWithoutMomentum) {
  Variable p = make_param();
  EXPECT_THROW(Sgd({{"p", p}}, {.lr = 0.1, .nesterov = true}), Error);
  EXPECT_THROW(Sgd({{"p", p}}, {.lr = -1}), Error);
  EXPECT_THROW(Sgd({{"p", p}, {"p", p}}, {.lr = 0.1}), Error);
}

TEST(Adam, DefaultsMatchTorch) {
  Variable p = make_param();
  Adam opt({{"p", p}}, {.lr = 0.01});
  run_steps(opt, p, 4);
  expect_values(p.value(), {0.479130924, -1.00033569, 2.03581691, 0.287169278});
  const auto st = opt.state();
  expect_values(st.at("p.exp_avg"), {-0.0126215396, -0.0518140905, -0.0747247487, -0.0786653385});
  expect_values(st.at("p.exp_avg_sq"),
                {0.000227110053, 0.000222963252, 0.000264798931, 0.000366827328});
  EXPECT_EQ(st.at("p.step").item(), 4);
  EXPECT_EQ(st.count("p.max_exp_avg_sq"), 0u);
}

TEST(Adam, L2WeightDecayAndBetasMatchTorch) {
  Variable p = make_param();
  Adam opt({{"p", p}}, {.lr = 0.01, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 0.1});
  run_steps(opt, p, 4);
  expect_values(p.value(), {0.477343202, -0.987870514, 1.99699163, 0.286081702});
  expect_values(opt.state().at("p.exp_avg"),
                {-0.0107427947, -0.159752458, -0.0106513286, -0.107759953});
}

TEST(Adam, AmsgradMatchesTorch) {
  Variable p = make_param();
  Adam opt({{"p", p}}, {.lr = 0.02, .amsgrad = true});
  run_steps(opt, p, 4, [](int t) { return t == 0 ? 3.0 : 0.1; });  // shrinking gradients
  expect_values(p.value(), {0.448081076, -1.04940188, 2.0651052, 0.304612219});
  expect_values(opt.state().at("p.max_exp_avg_sq"),
                {0.000810000114, 0.000290869299, 2.41769503e-05, 0.000819072244});
}

TEST(AdamW, DecoupledDecayMatchesTorch) {
  Variable p = make_param();
  AdamW opt({{"p", p}}, {.lr = 0.01, .weight_decay = 0.1});
  run_steps(opt, p, 4);
  expect_values(p.value(), {0.477185488, -0.996313751, 2.02777338, 0.286111295});
  // The moments see the raw gradient only, so they equal plain Adam's.
  expect_values(opt.state().at("p.exp_avg"),
                {-0.0126215396, -0.0518140905, -0.0747247487, -0.0786653385});
}

TEST(Optimizer, SkipsFrozenAndGradlessParameters) {
  Variable a = make_param(), frozen = make_param(), no_grad = make_param();
  frozen.set_grad(grad_at(0));
  frozen.set_requires_grad(false);
  Adam opt({{"a", a}, {"frozen", frozen}, {"no_grad", no_grad}}, {.lr = 0.1});
  a.set_grad(grad_at(0));
  opt.step();
  EXPECT_NE(a.value().at(0), 0.5);
  for (const Variable* v : {&frozen, &no_grad}) {
    expect_values(v->value(), {0.5, -1, 2, 0.25}, 0);
  }
  const auto st = opt.state();
  EXPECT_EQ(st.count("a.exp_avg"), 1u);
  EXPECT_EQ(st.count("frozen.exp_avg"), 0u);
  EXPECT_EQ(st.count("no_grad.step"), 0u);
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
}

TEST(Optimizer, StateRoundTripContinuesIdentically) {
  // Two steps, export, import into a fresh optimizer on a copy, two more steps: same result
  // as four uninterrupted steps.
  Variable p = make_param();
  AdamW full({{"w", p}}, {.lr = 0.01, .weight_decay = 0.1});
  run_steps(full, p, 4);

  Variable q = make_param();
  AdamW first({{"w", q}}, {.lr = 0.01, .weight_decay = 0.1});
  for (int t = 0; t < 2; ++t) {
    q.set_grad(grad_at(t));
    first.step();
  }
  Variable r(q.value().clone(), true);
  AdamW second({{"w", r}}, {.lr = 0.01, .weight_decay = 0.1});
  second.load_state(first.state());
  for (int t = 2; t < 4; ++t) {
    r.set_grad(grad_at(t));
    second.step();
  }
  expect_values(r.value(), p.value().to_vector<double>(), 0);
}

TEST(Optimizer, LoadStateRejectsUnknownOrMismatched) {
  Variable p = make_param();
  Sgd opt({{"p", p}}, {.lr = 0.1, .momentum = 0.9});
  EXPECT_THROW(opt.load_state({{"q.momentum_buffer", Tensor::zeros({4})}}), Error);
  EXPECT_THROW(opt.load_state({{"p.exp_avg", Tensor::zeros({4})}}), Error);
  EXPECT_THROW(opt.load_state({{"p.momentum_buffer", Tensor::zeros({3})}}), Error);
  opt.load_state({{"p.momentum_buffer", Tensor::ones({4})}});
  p.set_grad(Tensor::zeros({4}));
  opt.step();  // buf = 0.9 * 1 + 0 -> p -= 0.1 * 0.9
  EXPECT_NEAR(p.value().at(0), 0.5 - 0.09, 1e-7);
}

TEST(Optimizer, LearningRateIsSettable) {
  Variable p = make_param();
  Sgd opt({{"p", p}}, {.lr = 0.1});
  opt.set_lr(0.0);
  p.set_grad(grad_at(0));
  opt.step();
  expect_values(p.value(), {0.5, -1, 2, 0.25}, 0);
  EXPECT_THROW(opt.set_lr(std::nan("")), Error);
}

TEST(Optimizer, LargeTensorsTakeTheParallelPathIdentically) {
  // 2^20 elements runs parallel_for over the threads; the update is elementwise, so it must
  // equal the same update done on a small slice.
  const int64_t n = int64_t{1} << 20;
  Tensor v = Tensor::empty({n});
  Tensor g = Tensor::empty({n});
  for (int64_t i = 0; i < n; ++i) {
    v.data<float>()[i] = static_cast<float>(std::sin(0.001 * static_cast<double>(i)));
    g.data<float>()[i] = static_cast<float>(std::cos(0.003 * static_cast<double>(i)));
  }
  Variable big(v.clone(), true);
  Variable small(Tensor::from_vector<float>(
                     {3}, {v.data<float>()[0], v.data<float>()[n / 2], v.data<float>()[n - 1]}),
                 true);
  Adam a({{"big", big}}, {.lr = 0.01}), b({{"small", small}}, {.lr = 0.01});
  for (int t = 0; t < 3; ++t) {
    big.set_grad(g);
    small.set_grad(Tensor::from_vector<float>(
        {3}, {g.data<float>()[0], g.data<float>()[n / 2], g.data<float>()[n - 1]}));
    a.step();
    b.step();
  }
  EXPECT_EQ(big.value().data<float>()[0], small.value().data<float>()[0]);
  EXPECT_EQ(big.value().data<float>()[n / 2], small.value().data<float>()[1]);
  EXPECT_EQ(big.value().data<float>()[n - 1], small.value().data<float>()[2]);
}

// Steps of the optimizer `make` builds on float32 and float64 copies of the same parameter
// (length n, gradients varying per step) agree to float rounding.
void expect_float32_follows_float64(
    const std::function<std::unique_ptr<Optimizer>(NamedParameters)>& make) {
  for (int64_t n : {1, 7, 8, 9, 37, 64}) {
    SCOPED_TRACE("length " + std::to_string(n));
    Tensor start = Tensor::empty({n}, DType::kFloat64);
    for (int64_t i = 0; i < n; ++i)
      start.data<double>()[i] = std::sin(0.7 * static_cast<double>(i)) + 0.1;
    Variable p32(start.to(DType::kFloat32), true), p64(start.clone(), true);
    auto opt32 = make({{"p", p32}}), opt64 = make({{"p", p64}});
    for (int t = 0; t < 5; ++t) {
      Tensor g = Tensor::empty({n}, DType::kFloat64);
      for (int64_t i = 0; i < n; ++i)
        g.data<double>()[i] = 0.4 * std::cos(1.3 * t + 0.9 * static_cast<double>(i));
      p32.set_grad(g.to(DType::kFloat32));
      p64.set_grad(g);
      opt32->step();
      opt64->step();
    }
    for (int64_t i = 0; i < n; ++i) {
      const double want = p64.value().data<double>()[i];
      ASSERT_NEAR(p32.value().data<float>()[i], want, 2e-6 * std::max(1.0, std::abs(want)))
          << "element " << i;
    }
  }
}

class OptimizerKernel : public test::OnEverySimdTarget {};

TEST_P(OptimizerKernel, SgdFloat32FollowsFloat64) {
  expect_float32_follows_float64(
      [](NamedParameters p) { return std::make_unique<Sgd>(std::move(p), SgdOptions{.lr = 0.1}); });
  expect_float32_follows_float64([](NamedParameters p) {
    return std::make_unique<Sgd>(
        std::move(p),
        SgdOptions{.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01});
  });
  expect_float32_follows_float64([](NamedParameters p) {
    return std::make_unique<Sgd>(
        std::move(p),
        SgdOptions{.lr = 0.05, .momentum = 0.8, .weight_decay = 0.001, .nesterov = true});
  });
}

TEST_P(OptimizerKernel, AdamFloat32FollowsFloat64) {
  expect_float32_follows_float64([](NamedParameters p) {
    return std::make_unique<Adam>(std::move(p), AdamOptions{.lr = 0.01, .weight_decay = 0.01});
  });
  expect_float32_follows_float64([](NamedParameters p) {
    return std::make_unique<Adam>(std::move(p), AdamOptions{.lr = 0.01, .amsgrad = true});
  });
  expect_float32_follows_float64([](NamedParameters p) {
    return std::make_unique<AdamW>(std::move(p), AdamOptions{.lr = 0.01, .weight_decay = 0.1});
  });
}

TAMP_ON_EVERY_SIMD_TARGET(OptimizerKernel);

}  // namespace
}  // namespace tamp::nn
