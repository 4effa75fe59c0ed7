// The tape: broadcasting reduced once, accumulation, hooks, no-grad, saved tensors freed.
#include <tamp/autograd/apply.h>
#include <tamp/autograd/detail/node.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>

namespace tamp {
namespace {

Variable param(Shape shape, std::vector<float> values) {
  return Variable(Tensor::from_vector<float>(std::move(shape), values), true);
}

std::vector<float> values(const Tensor& t) { return t.to_vector<float>(); }

TEST(Engine, BroadcastGradientIsSummedToTheInputShape) {
  Variable a = param({2, 3}, {1, 2, 3, 4, 5, 6});
  Variable b = param({3}, {10, 20, 30});
  Variable y = apply1("Mul", {a, b});
  y.backward(Tensor::ones({2, 3}));
  EXPECT_EQ(b.grad().shape(), Shape({3}));
  EXPECT_EQ(values(b.grad()), (std::vector<float>{5, 7, 9}));  // column sums of a
  EXPECT_EQ(values(a.grad()), (std::vector<float>{10, 20, 30, 10, 20, 30}));
}

TEST(Engine, GradientsAccumulateAcrossUsesAndCalls) {
  Variable x = param({2}, {3, 4});
  Variable y = apply1("Add", {apply1("Mul", {x, x}), x});  // x^2 + x
  y.backward(Tensor::ones({2}));
  EXPECT_EQ(values(x.grad()), (std::vector<float>{7, 9}));
  Variable z = apply1("Mul", {x, x});
  z.backward(Tensor::ones({2}));  // a second backward adds on top
  EXPECT_EQ(values(x.grad()), (std::vector<float>{13, 17}));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

TEST(Engine, SharedGradientStorageIsNotCorruptedByAccumulation) {
  // Add's backward hands the same tensor to both inputs; accumulating into one leaf must not
  // change the other.
  Variable a = param({2}, {1, 1});
  Variable b = param({2}, {1, 1});
  Variable y = apply1("Add", {a, b});
  a.set_grad(Tensor::from_vector<float>({2}, {100, 100}));
  y.backward(Tensor::ones({2}));
  EXPECT_EQ(values(a.grad()), (std::vector<float>{101, 101}));
  EXPECT_EQ(values(b.grad()), (std::vector<float>{1, 1}));
}

TEST(Engine, HooksTransformTheGradientBeforeAccumulation) {
  Variable w = param({4}, {1, 2, 3, 4});
  const Tensor mask = Tensor::from_vector<float>({4}, {1, 0, 1, 0});
  const int id = w.add_hook([&](const Tensor& g) {
    Tensor out = g.clone();
    for (int i = 0; i < 4; ++i) out.data<float>()[i] *= mask.data<float>()[i];
    return out;
  });
  apply1("Mul", {w, w}).backward(Tensor::ones({4}));
  EXPECT_EQ(values(w.grad()), (std::vector<float>{2, 0, 6, 0}));
  w.remove_hook(id);
  w.zero_grad();
  apply1("Mul", {w, w}).backward(Tensor::ones({4}));
  EXPECT_EQ(values(w.grad()), (std::vector<float>{2, 4, 6, 8}));
}

TEST(Engine, HookOnAnIntermediateSeesItsTotalGradient) {
  Variable x = param({1}, {2});
  Variable h = apply1("Mul", {x, x});  // 4
  Tensor seen;
  h.add_hook([&](const Tensor& g) {
    seen = g.clone();
    return g;
  });
  Variable y = apply1("Add", {h, h});  // dy/dh = 2
  y.backward(Tensor::ones({1}));
  EXPECT_EQ(values(seen), (std::vector<float>{2}));
  EXPECT_EQ(values(x.grad()), (std::vector<float>{8}));  // 2 * 2x
}

TEST(Engine, ReadyHookRunsOnceAfterTheLastContributionOfALeaf) {
  // x reaches the loss twice, through the root Add (early in the walk) and through the first
  // Mul (last): its ready hook must wait for both. w is used once.
  Variable x = param({1}, {2});
  Variable w = param({1}, {3});
  Variable unused = param({1}, {5});
  std::vector<std::pair<std::string, float>> seen;
  add_ready_hook(x, [&](const Tensor& g) { seen.emplace_back("x", g.data<float>()[0]); });
  add_ready_hook(w, [&](const Tensor& g) { seen.emplace_back("w", g.data<float>()[0]); });
  const int id = add_ready_hook(unused, [&](const Tensor&) { seen.emplace_back("unused", 0.f); });
  Variable h = apply1("Mul", {x, w});                      // 6
  Variable y = apply1("Add", {apply1("Mul", {h, h}), x});  // h^2 + x
  y.backward(Tensor::ones({1}));
  ASSERT_EQ(seen.size(), 2u);  // an unreachable leaf's hook does not run
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen[0], std::make_pair(std::string("w"), 24.f));  // 2h * x
  EXPECT_EQ(seen[1], std::make_pair(std::string("x"), 37.f));  // 2h * w + 1
  // Once per backward, with the accumulated gradient.
  seen.clear();
  apply1("Mul", {x, w}).backward(Tensor::ones({1}));
  std::sort(seen.begin(), seen.end());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], std::make_pair(std::string("w"), 26.f));
  EXPECT_EQ(seen[1], std::make_pair(std::string("x"), 40.f));
  remove_ready_hook(unused, id);
  EXPECT_THROW(add_ready_hook(h, [](const Tensor&) {}), Error);  // not a leaf
}

TEST(Engine, NoGradGuardRecordsNothing) {
  Variable x = param({2}, {1, 2});
  Variable y;
  {
    NoGradGuard guard;
    EXPECT_FALSE(grad_mode_enabled());
    y = apply1("Mul", {x, x});
  }
  EXPECT_TRUE(grad_mode_enabled());
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(y.is_leaf());
  EXPECT_THROW(y.backward(Tensor::ones({2})), Error);
}

TEST(Engine, SavedTensorsAreFreedAfterBackward) {
  Variable x = param({3}, {1, 2, 3});
  Variable y = apply1("Mul", {x, x});
  ASSERT_TRUE(y.grad_fn());
  EXPECT_TRUE(y.grad_fn()->ctx.saved.has_value());
  y.backward(Tensor::ones({3}));
  EXPECT_FALSE(y.grad_fn()->ctx.saved.has_value());
  EXPECT_TRUE(y.grad_fn()->next.empty());
  EXPECT_THROW(y.backward(Tensor::ones({3})), Error);  // a clear error, not garbage
}

TEST(Engine, SavedStateIsReadBackByItsTypeOnly) {
  struct Saved {
    Tensor x;
    double scale = 0;
  };
  OpContext ctx;
  EXPECT_THROW(ctx.saved_as<Saved>(), Error);  // forward saved nothing
  ctx.save(Saved{Tensor::ones({2}), 0.5});
  EXPECT_EQ(ctx.saved_as<Saved>().scale, 0.5);
  EXPECT_EQ(ctx.saved_as<Saved>().x.numel(), 2);
  EXPECT_THROW(ctx.saved_as<double>(), Error);  // another op's state
}

TEST(Engine, UnusedInputsGetNoGradientAndConstantsNoTape) {
  Variable x = param({2}, {1, 2});
  Variable c(Tensor::from_vector<float>({2}, {5, 6}), false);
  Variable y = apply1("Mul", {x, c});
  y.backward(Tensor::ones({2}));
  EXPECT_FALSE(c.grad().defined());
  EXPECT_EQ(values(x.grad()), (std::vector<float>{5, 6}));
}

TEST(Engine, DeepChainsDoNotRecurse) {
  Variable x = param({1}, {1});
  Variable y = x;
  for (int i = 0; i < 100000; ++i) y = apply1("Add", {y, x});
  y.backward(Tensor::ones({1}));
  EXPECT_EQ(values(x.grad()), (std::vector<float>{100001}));
}

TEST(Engine, MultiRootBackwardSumsContributions) {
  Variable x = param({2}, {1, 2});
  Variable a = apply1("Mul", {x, x});
  Variable b = apply1("Add", {x, x});
  backward({a, b}, {Tensor::ones({2}), Tensor::full({2}, 10)});
  EXPECT_EQ(values(x.grad()), (std::vector<float>{22, 24}));  // 2x + 2*10
}

TEST(Engine, ShapeMismatchNamesBothShapesAndTheOp) {
  Variable a = param({2, 3}, {1, 2, 3, 4, 5, 6});
  Variable b = param({4}, {1, 2, 3, 4});
  try {
    apply1("Add", {a, b});
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("Add"), std::string::npos) << what;
    EXPECT_NE(what.find("[2, 3]"), std::string::npos) << what;
    EXPECT_NE(what.find("[4]"), std::string::npos) << what;
  }
}

TEST(Engine, UnknownOpIsAnUnsupportedError) {
  try {
    OpRegistry::builtin().get("", "NoSuchOp", 13);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("NoSuchOp"), std::string::npos);
  }
}

TEST(Engine, IntegerVariablesCannotRequireGrad) {
  EXPECT_THROW(Variable(Tensor::zeros({2}, DType::kInt64), true), Error);
}

}  // namespace
}  // namespace tamp

namespace tamp {
namespace {

TEST(Engine, DeepTapeIsDestroyedWithoutRecursion) {
  Variable x(Tensor::ones({1}), true);
  Variable y = x;
  for (int i = 0; i < 300000; ++i) y = apply1("Neg", {y});
  y = Variable();  // drops a 300k-node tape without backward
  SUCCEED();
}

}  // namespace
}  // namespace tamp
