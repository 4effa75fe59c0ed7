// The convolution kernels (direct, implicit GEMM, im2col + GEMM; forward, data and weight
// gradients, bias gradient) on raw buffers, fp32 and fp64, on every instruction set this CPU
// runs, against naive float64 loops written from the definition. Shapes end inside the
// register tiles of every target (output rows of 1..17 columns, channel counts that are not
// multiples of the tile rows) and take each kernel path.
#include <tamp/autograd/kernels/conv.h>
#include <tamp/autograd/random.h>
#include <tamp/autograd/threads.h>

#include "support/expect.h"
#include "support/simd_targets.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace tamp::test {
namespace {

using kernels::ConvShape;

struct Case {
  const char* what;
  int64_t n, c, m, groups, h, w, kh, kw, sh, sw, ph, pw, dh, dw;
};

// The kernel each case reaches is the one conv.cpp picks for its shape.
const std::vector<Case> kCases = {
    {"direct: one channel, 3x3, rows of 17", 3, 1, 5, 1, 9, 19, 3, 3, 1, 1, 0, 0, 1, 1},
    {"direct: depthwise, padded, rows of 7", 2, 6, 6, 6, 7, 9, 3, 3, 1, 1, 1, 1, 1, 1},
    {"direct: depthwise, row stride 2", 2, 8, 8, 8, 11, 11, 3, 3, 2, 1, 1, 1, 1, 1},
    {"direct: 3 channels, dilation, 9 outputs", 2, 3, 7, 1, 10, 13, 3, 3, 1, 1, 0, 1, 1, 2},
    {"direct: one channel, rows of 1", 2, 1, 3, 1, 5, 3, 3, 3, 1, 1, 0, 0, 1, 1},
    {"implicit: 5 -> 7 channels, rows of 11", 3, 5, 7, 1, 13, 13, 3, 3, 1, 1, 0, 0, 1, 1},
    {"implicit: 12 -> 13, padded, rows of 16", 2, 12, 13, 1, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1},
    {"implicit: groups, dilation, rows of 12", 2, 16, 10, 2, 16, 16, 3, 3, 1, 1, 0, 0, 1, 2},
    {"implicit: 40 -> 33, 1x3", 2, 40, 33, 1, 6, 23, 1, 3, 1, 1, 0, 1, 1, 1},
    {"im2col per image: strides 2, 9 -> 6", 2, 9, 6, 1, 20, 22, 3, 3, 2, 2, 1, 0, 1, 1},
    {"im2col per image: one image (threads > batch)", 1, 11, 9, 1, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1},
    {"1x1 without im2col", 2, 37, 19, 1, 9, 8, 1, 1, 1, 1, 0, 0, 1, 1},
    {"small planes: 3x3 on 4x4, 5 images", 5, 24, 20, 1, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1},
    {"small planes: stride 2, groups, 3 images", 3, 12, 8, 2, 9, 10, 3, 3, 2, 2, 1, 0, 1, 1},
    {"small planes: 1x1 on 2x2", 7, 37, 19, 1, 2, 2, 1, 1, 1, 1, 0, 0, 1, 1},
    {"small planes: 3x3 pad 1 on 1x1", 4, 17, 9, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1},
};

ConvShape shape_of(const Case& c) {
  ConvShape s;
  s.batch = c.n;
  s.in_channels = c.c;
  s.out_channels = c.m;
  s.groups = c.groups;
  s.in[1] = c.h;
  s.in[2] = c.w;
  s.kernel[1] = c.kh;
  s.kernel[2] = c.kw;
  s.stride[1] = c.sh;
  s.stride[2] = c.sw;
  s.pad[1] = c.ph;
  s.pad[2] = c.pw;
  s.dilation[1] = c.dh;
  s.dilation[2] = c.dw;
  s.out[1] = (c.h + 2 * c.ph - (c.kh - 1) * c.dh - 1) / c.sh + 1;
  s.out[2] = (c.w + 2 * c.pw - (c.kw - 1) * c.dw - 1) / c.sw + 1;
  return s;
}

// Calls f(x index, w index, y index) for every product term of the convolution.
template <class F> void for_each_term(const ConvShape& s, F&& f) {
  const int64_t cg = s.in_channels / s.groups, mg = s.out_channels / s.groups;
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t o = 0; o < s.out_channels; ++o)
      for (int64_t i = 0; i < s.out[1]; ++i)
        for (int64_t j = 0; j < s.out[2]; ++j)
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t u = 0; u < s.kernel[1]; ++u)
              for (int64_t v = 0; v < s.kernel[2]; ++v) {
                const int64_t ih = i * s.stride[1] - s.pad[1] + u * s.dilation[1];
                const int64_t iw = j * s.stride[2] - s.pad[2] + v * s.dilation[2];
                if (ih < 0 || ih >= s.in[1] || iw < 0 || iw >= s.in[2]) continue;
                const int64_t ch = (o / mg) * cg + ci;
                f(((b * s.in_channels + ch) * s.in[1] + ih) * s.in[2] + iw,
                  ((o * cg + ci) * s.kernel[1] + u) * s.kernel[2] + v,
                  ((b * s.out_channels + o) * s.out[1] + i) * s.out[2] + j);
              }
}

std::vector<double> random_values(size_t n, uint64_t seed) {
  Generator rng(seed);
  std::vector<double> v(n);
  for (double& e : v) e = 2 * rng.uniform() - 1;
  return v;
}

template <class T> std::vector<T> cast(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

template <class T> void check_case(const Case& c, double tol) {
  SCOPED_TRACE(c.what);
  const ConvShape s = shape_of(c);
  const size_t nx = s.batch * s.in_channels * s.in_size(),
               ny = s.batch * s.out_channels * s.out_size();
  const size_t nw = s.out_channels * (s.in_channels / s.groups) * s.kernel_size();
  const auto x = random_values(nx, 1), w = random_values(nw, 2),
             bias = random_values(s.out_channels, 3);
  const auto dy = random_values(ny, 4);

  std::vector<double> y(ny), dx(nx, 0.0), dw(nw, 0.0), db(s.out_channels, 0.0);
  for (size_t i = 0; i < ny; ++i) y[i] = bias[i / s.out_size() % s.out_channels];
  for (size_t i = 0; i < ny; ++i) db[i / s.out_size() % s.out_channels] += dy[i];
  for_each_term(s, [&](int64_t xi, int64_t wi, int64_t yi) {
    y[yi] += x[xi] * w[wi];
    dx[xi] += dy[yi] * w[wi];
    dw[wi] += dy[yi] * x[xi];
  });

  const auto xt = cast<T>(x), wt = cast<T>(w), bt = cast<T>(bias), dyt = cast<T>(dy);
  std::vector<T> got_y(ny), got_dx(nx, T(7)), got_dw(nw, T(7)), got_db(s.out_channels, T(7));
  kernels::conv_forward<T>(s, xt.data(), wt.data(), bt.data(), got_y.data());
  expect_close(got_y, y, {.atol = tol, .rtol = tol}, "y");
  kernels::conv_backward<T>(s, xt.data(), wt.data(), dyt.data(), got_dx.data(), got_dw.data(),
                            got_db.data());
  expect_close(got_dx, dx, {.atol = tol, .rtol = tol}, "dx");
  expect_close(got_dw, dw, {.atol = tol, .rtol = tol}, "dw");
  expect_close(got_db, db, {.atol = tol, .rtol = tol}, "dbias");
  // Each gradient alone (the others null) is the same.
  std::vector<T> only_dw(nw, T(7));
  kernels::conv_backward<T>(s, xt.data(), wt.data(), dyt.data(), nullptr, only_dw.data(), nullptr);
  expect_close(only_dw, dw, {.atol = tol, .rtol = tol}, "dw alone");
  std::vector<T> only_dx(nx, T(7));
  kernels::conv_backward<T>(s, nullptr, wt.data(), dyt.data(), only_dx.data(), nullptr, nullptr);
  expect_close(only_dx, dx, {.atol = tol, .rtol = tol}, "dx alone (x not given)");
}

class ConvKernel : public OnEverySimdTarget {
 protected:
  void TearDown() override {
    set_num_threads(threads_);
    OnEverySimdTarget::TearDown();
  }
  const int threads_ = num_threads();
};

TEST_P(ConvKernel, EveryPathMatchesTheDefinitionInFloat32AndFloat64) {
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (const Case& c : kCases) {
      check_case<float>(c, 2e-5);
      check_case<double>(c, 1e-12);
      if (HasFatalFailure()) return;
    }
  }
}

TAMP_ON_EVERY_SIMD_TARGET(ConvKernel);

}  // namespace
}  // namespace tamp::test
