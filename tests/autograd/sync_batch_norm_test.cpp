// Synchronised BatchNorm (tamp_sync_group, autograd/cross_rank.h) without MPI: two threads
// stand for two ranks, each with half of a batch, and sum through a shared exchange. Their
// outputs, running statistics and gradients must be those of one BatchNormalization over the
// whole batch (upstream gradient split the same way, so dX is its halves and dscale, dB the
// sum of the two ranks').
#include <tamp/autograd/apply.h>
#include <tamp/autograd/cross_rank.h>
#include <tamp/autograd/random.h>

#include "support/expect.h"

#include <gtest/gtest.h>

#include <barrier>
#include <cmath>
#include <thread>

namespace tamp {
namespace {

using test::expect_close;

// Two ranks' in-place sums: each deposits its tensor, both add the pair in the same order.
struct Exchange {
  std::barrier<> sync{2};
  Tensor slots[2];
  void sum(int rank, Tensor& t) {
    slots[rank] = t.clone();
    sync.arrive_and_wait();
    const double* a = slots[0].data<double>();
    const double* b = slots[1].data<double>();
    for (int64_t i = 0; i < t.numel(); ++i) t.data<double>()[i] = a[i] + b[i];
    sync.arrive_and_wait();  // both have read the slots before the next sum overwrites them
  }
};

Tensor random_tensor(const Shape& shape, uint64_t seed, float lo, float hi) {
  Generator rng(seed);
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data<float>()[i] = lo + (hi - lo) * static_cast<float>(rng.uniform());
  return t;
}

// rows [begin, end) of dimension 0
Tensor rows(const Tensor& t, int64_t begin, int64_t end) {
  Shape shape = t.shape();
  const int64_t per = t.numel() / shape[0];
  shape[0] = end - begin;
  Tensor out = Tensor::empty(shape);
  std::copy_n(t.data<float>() + begin * per, (end - begin) * per, out.data<float>());
  return out;
}

struct Result {
  Tensor y, run_mean, run_var, dx, dscale, db;
};

// Forward (module in train mode, opset 15: unbiased running variance) and backward of
// sum(Y * upstream).
Result run_bn(const Tensor& x, const Tensor& upstream, const Tensor& scale, const Tensor& bias,
              int64_t group) {
  Variable vx(x.clone(), true), vs(scale.clone(), true), vb(bias.clone(), true);
  Variable rm(Tensor::zeros(scale.shape())), rv(Tensor::ones(scale.shape()));
  Attributes attrs{{"momentum", 0.9f}};
  if (group != 0) attrs.set("tamp_sync_group", group);
  auto out =
      apply("BatchNormalization", {vx, vs, vb, rm, rv}, attrs, {.opset = 15, .training = true});
  out[0].backward(upstream);
  return {out[0].value(), out[1].value(), out[2].value(), vx.grad(), vs.grad(), vb.grad()};
}

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = a.clone();
  for (int64_t i = 0; i < a.numel(); ++i) out.data<float>()[i] += b.data<float>()[i];
  return out;
}

TEST(SyncBatchNorm, TwoRanksEqualOneProcessWithTheWholeBatch) {
  // (N, C, H, W) = (6, 3, 4, 5); the ranks take 2 and 4 rows (uneven: the counts are summed).
  const Tensor x = random_tensor({6, 3, 4, 5}, 1, -1.f, 3.f);
  const Tensor upstream = random_tensor({6, 3, 4, 5}, 2, -1.f, 1.f);
  const Tensor scale = random_tensor({3}, 3, 0.5f, 1.5f), bias = random_tensor({3}, 4, -1.f, 1.f);
  const Result whole = run_bn(x, upstream, scale, bias, 0);

  Exchange exchange;
  CrossRankGroup g0([&](Tensor& t) { exchange.sum(0, t); });
  CrossRankGroup g1([&](Tensor& t) { exchange.sum(1, t); });
  Result part[2];
  const int64_t split = 2;
  std::thread other(
      [&] { part[1] = run_bn(rows(x, split, 6), rows(upstream, split, 6), scale, bias, g1.id()); });
  part[0] = run_bn(rows(x, 0, split), rows(upstream, 0, split), scale, bias, g0.id());
  other.join();

  for (int r = 0; r < 2; ++r) {
    SCOPED_TRACE("rank " + std::to_string(r));
    const int64_t begin = r == 0 ? 0 : split, end = r == 0 ? split : 6;
    expect_close(part[r].y, rows(whole.y, begin, end), {.atol = 1e-5, .rtol_of_max = 1e-5}, "Y");
    expect_close(part[r].dx, rows(whole.dx, begin, end), {.atol = 1e-5, .rtol_of_max = 1e-5}, "dX");
    expect_close(part[r].run_mean, whole.run_mean, {.atol = 1e-6, .rtol_of_max = 1e-6},
                 "running mean");
    expect_close(part[r].run_var, whole.run_var, {.atol = 1e-6, .rtol_of_max = 1e-6},
                 "running variance (unbiased over 120 values per channel)");
  }
  expect_close(add(part[0].dscale, part[1].dscale), whole.dscale,
               {.atol = 1e-5, .rtol_of_max = 1e-5}, "dscale");
  expect_close(add(part[0].db, part[1].db), whole.db, {.atol = 1e-5, .rtol_of_max = 1e-5}, "dB");

  // Unsynchronised, each half normalises with its own statistics: Y differs (the test can fail).
  const Result local = run_bn(rows(x, 0, split), rows(upstream, 0, split), scale, bias, 0);
  double diff = 0;
  for (int64_t i = 0; i < local.y.numel(); ++i) {
    diff = std::max(
        diff, std::abs(double(local.y.data<float>()[i]) - double(part[0].y.data<float>()[i])));
  }
  EXPECT_GT(diff, 1e-3);
}

TEST(SyncBatchNorm, UnregisteredGroupIsAClearError) {
  const Tensor x = random_tensor({4, 2}, 5, -1.f, 1.f);
  try {
    run("BatchNormalization",
        {x, Tensor::ones({2}), Tensor::zeros({2}), Tensor::zeros({2}), Tensor::ones({2})},
        {{"tamp_sync_group", int64_t{987654}}}, {.opset = 15, .training = true});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tamp_sync_group 987654"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tamp
