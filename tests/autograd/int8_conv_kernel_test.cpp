// kernels::int8_conv on every instruction set this CPU runs, against the convolution written
// out in int64 from its definition: 1-D, 2-D and 3-D, strides, dilations, asymmetric pads,
// groups and depthwise, 1x1, planes under and over the size at which images share a GEMM,
// one image on two threads; int8 and uint8 inputs and weights, zero points per tensor and per
// output channel, values at the ends of the 8-bit ranges. The saturated-pairs mode against
// ONNX Runtime's x86 sums: the patch in (kernel offset, input channel) order, padding read as
// the input's zero point, raw products summed in pairs clamped to int16.
#include <tamp/autograd/kernels/int8_conv.h>
#include <tamp/autograd/kernels/requantize.h>
#include <tamp/autograd/random.h>
#include <tamp/autograd/threads.h>

#include "support/int8_values.h"
#include "support/simd_targets.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace tamp::test {
namespace {

using kernels::ConvShape;

struct Case {
  const char* what;
  int64_t n, c, m, groups;
  int64_t in[3], kernel[3], stride[3], dilation[3], pad_begin[3], pad_end[3];
};

const std::vector<Case> kCases = {
    {"3x3 pad 1, 3 -> 5 channels, 9x9 (images share a GEMM)",
     3,
     3,
     5,
     1,
     {1, 9, 9},
     {1, 3, 3},
     {1, 1, 1},
     {1, 1, 1},
     {0, 1, 1},
     {0, 1, 1}},
    {"3x3 on 20x21, one image per GEMM",
     2,
     4,
     7,
     1,
     {1, 20, 21},
     {1, 3, 3},
     {1, 1, 1},
     {1, 1, 1},
     {0, 1, 1},
     {0, 1, 1}},
    {"stride 2, dilation 2, asymmetric pads",
     2,
     5,
     6,
     1,
     {1, 13, 11},
     {1, 3, 2},
     {1, 2, 2},
     {1, 2, 2},
     {0, 2, 0},
     {0, 1, 3}},
    {"groups 2, 6 -> 4 channels",
     3,
     6,
     4,
     2,
     {1, 7, 8},
     {1, 3, 3},
     {1, 1, 1},
     {1, 1, 1},
     {0, 1, 0},
     {0, 1, 0}},
    {"depthwise 5 channels, stride 2",
     2,
     5,
     5,
     5,
     {1, 10, 9},
     {1, 3, 3},
     {1, 2, 2},
     {1, 1, 1},
     {0, 1, 1},
     {0, 1, 1}},
    {"1x1, 37 -> 19 channels (K odd, past a vector)",
     4,
     37,
     19,
     1,
     {1, 5, 6},
     {1, 1, 1},
     {1, 1, 1},
     {1, 1, 1},
     {0, 0, 0},
     {0, 0, 0}},
    {"1-D, kernel 5, stride 3",
     2,
     3,
     4,
     1,
     {1, 1, 40},
     {1, 1, 5},
     {1, 1, 3},
     {1, 1, 1},
     {0, 0, 2},
     {0, 0, 1}},
    {"3-D 2x3x3 on 4x5x5",
     2,
     2,
     3,
     1,
     {4, 5, 5},
     {2, 3, 3},
     {1, 1, 1},
     {1, 1, 1},
     {1, 1, 1},
     {0, 1, 1}},
    {"64 channels 3x3 (K = 576 > a k block)",
     2,
     64,
     8,
     1,
     {1, 6, 6},
     {1, 3, 3},
     {1, 1, 1},
     {1, 1, 1},
     {0, 1, 1},
     {0, 1, 1}},
    {"one image, 16 channels on 12x12",
     1,
     8,
     16,
     1,
     {1, 12, 12},
     {1, 3, 3},
     {1, 1, 1},
     {1, 1, 1},
     {0, 1, 1},
     {0, 1, 1}},
    {"no input channels: sums of nothing",
     2,
     0,
     3,
     1,
     {1, 4, 4},
     {1, 3, 3},
     {1, 1, 1},
     {1, 1, 1},
     {0, 1, 1},
     {0, 1, 1}},
};

ConvShape shape_of(const Case& c) {
  ConvShape s;
  s.batch = c.n;
  s.in_channels = c.c;
  s.out_channels = c.m;
  s.groups = c.groups;
  for (int d = 0; d < 3; ++d) {
    s.in[d] = c.in[d];
    s.kernel[d] = c.kernel[d];
    s.stride[d] = c.stride[d];
    s.dilation[d] = c.dilation[d];
    s.pad[d] = c.pad_begin[d];
    s.out[d] = (c.in[d] + c.pad_begin[d] + c.pad_end[d] - (c.kernel[d] - 1) * c.dilation[d] - 1) /
                   c.stride[d] +
               1;
  }
  return s;
}

struct Data {
  std::vector<uint8_t> x, w;  // int8 stored as its bits
  bool x_signed, w_signed;
  int32_t zx;
  std::vector<int32_t> zw;  // (M)
  int32_t x_at(size_t i) const {
    return x_signed ? int32_t{static_cast<int8_t>(x[i])} : int32_t{x[i]};
  }
  int32_t w_at(size_t i) const {
    return w_signed ? int32_t{static_cast<int8_t>(w[i])} : int32_t{w[i]};
  }
};

// y (N, M, out) from the definition, in int64 then wrapped to int32.
std::vector<int32_t> reference(const ConvShape& s, const Data& d, bool saturate_pairs) {
  const int64_t cg = s.in_channels / s.groups, mg = s.out_channels / s.groups, ks = s.kernel_size();
  std::vector<int32_t> y(static_cast<size_t>(s.batch * s.out_channels * s.out_size()));
  std::vector<int64_t> patch(static_cast<size_t>(ks * cg)), filter(patch.size());
  for (int64_t b = 0; b < s.batch; ++b) {
    for (int64_t m = 0; m < s.out_channels; ++m) {
      for (int64_t o = 0; o < s.out_size(); ++o) {
        const int64_t od[3] = {o / (s.out[1] * s.out[2]), o / s.out[2] % s.out[1], o % s.out[2]};
        for (int64_t p = 0; p < ks; ++p) {
          const int64_t kd[3] = {p / (s.kernel[1] * s.kernel[2]), p / s.kernel[2] % s.kernel[1],
                                 p % s.kernel[2]};
          bool inside = true;
          int64_t offset = 0;
          for (int e = 0; e < 3; ++e) {
            const int64_t i = od[e] * s.stride[e] - s.pad[e] + kd[e] * s.dilation[e];
            inside = inside && i >= 0 && i < s.in[e];
            offset = offset * s.in[e] + i;
          }
          for (int64_t c = 0; c < cg; ++c) {
            const int64_t ch = m / mg * cg + c;
            patch[p * cg + c] =
                inside ? d.x_at((b * s.in_channels + ch) * s.in_size() + offset) : d.zx;
            filter[p * cg + c] = d.w_at((m * cg + c) * ks + p);
          }
        }
        const int64_t zw = d.zw[m];
        int64_t sum = 0;
        if (!saturate_pairs) {
          for (size_t i = 0; i < patch.size(); ++i) sum += (patch[i] - d.zx) * (filter[i] - zw);
        } else {
          int64_t patch_sum = 0, filter_sum = 0;
          for (size_t i = 0; i < patch.size(); i += 2) {
            int64_t pair = patch[i] * filter[i];
            if (i + 1 < patch.size()) pair += patch[i + 1] * filter[i + 1];
            sum += std::clamp<int64_t>(pair, -32768, 32767);
          }
          for (size_t i = 0; i < patch.size(); ++i) {
            patch_sum += patch[i];
            filter_sum += filter[i];
          }
          const int64_t k = static_cast<int64_t>(patch.size());
          sum += -d.zx * filter_sum - zw * patch_sum + k * d.zx * zw;
        }
        y[(b * s.out_channels + m) * s.out_size() + o] =
            static_cast<int32_t>(static_cast<uint32_t>(sum));
      }
    }
  }
  return y;
}

class Int8ConvKernel : public OnEverySimdTarget {
 protected:
  void TearDown() override {
    set_num_threads(threads_);
    OnEverySimdTarget::TearDown();
  }

  Data random_data(const ConvShape& s, bool x_signed, bool w_signed, bool per_channel) {
    Generator rng(
        static_cast<uint64_t>(s.in_channels * 97 + s.out_channels * 13 + x_signed * 2 + w_signed));
    Data d{{}, {}, x_signed, w_signed, int8_test_value(rng, x_signed), {}};
    d.x.resize(static_cast<size_t>(s.batch * s.in_channels * s.in_size()));
    d.w.resize(static_cast<size_t>(s.out_channels * s.in_channels / s.groups * s.kernel_size()));
    for (uint8_t& v : d.x) v = static_cast<uint8_t>(int8_test_value(rng, x_signed));
    for (uint8_t& v : d.w) v = static_cast<uint8_t>(int8_test_value(rng, w_signed));
    const int32_t shared = int8_test_value(rng, w_signed);
    for (int64_t m = 0; m < s.out_channels; ++m)
      d.zw.push_back(per_channel ? int8_test_value(rng, w_signed) : shared);
    return d;
  }

  // Returns how many outputs differ from the exact convolution (for the saturated mode).
  int64_t check(const Case& c, bool x_signed, bool w_signed, bool per_channel, bool saturate_pairs,
                int threads) {
    SCOPED_TRACE(::testing::Message()
                 << c.what << ": x " << (x_signed ? "s8" : "u8") << ", w "
                 << (w_signed ? "s8" : "u8") << (per_channel ? ", w_zp per channel" : "")
                 << (saturate_pairs ? ", saturated pairs" : "") << ", threads " << threads);
    set_num_threads(threads);
    const ConvShape s = shape_of(c);
    const Data d = random_data(s, x_signed, w_signed, per_channel);
    std::vector<int32_t> y(static_cast<size_t>(s.batch * s.out_channels * s.out_size()),
                           0x5a5a5a5a);
    kernels::int8_conv(s, {d.x.data(), x_signed, d.zx}, {d.w.data(), w_signed, d.zw.data()},
                       saturate_pairs, y.data());
    const std::vector<int32_t> want = reference(s, d, saturate_pairs);
    for (size_t i = 0; i < y.size(); ++i) {
      if (y[i] != want[i]) {
        ADD_FAILURE() << "y[" << i << "] = " << y[i] << ", want " << want[i];
        return 0;
      }
    }
    if (!saturate_pairs) return 0;
    const std::vector<int32_t> exact = reference(s, d, false);
    int64_t differ = 0;
    for (size_t i = 0; i < y.size(); ++i) differ += y[i] != exact[i];
    return differ;
  }

  const int threads_ = num_threads();
};

TEST_P(Int8ConvKernel, ExactForEveryShapeSignednessAndZeroPoint) {
  for (const Case& c : kCases) {
    for (int t = 0; t < 4; ++t) {
      check(c, t & 1, t & 2, t & 1, false, 1);
      if (HasFailure()) return;
    }
  }
}

TEST_P(Int8ConvKernel, SaturatedPairsFollowTheFilterOrderOfOnnxRuntime) {
  int64_t saturated = 0;
  for (const Case& c : kCases) {
    saturated += check(c, false, true, true, true, 1);
    if (HasFailure()) return;
  }
  EXPECT_GT(saturated, 0) << "no pair saturated: the cases do not test the saturation";
}

TEST_P(Int8ConvKernel, SplitsTheBatchOrOneImagesRowsOverTwoThreads) {
  for (const Case& c : kCases) {
    check(c, false, false, true, false, 2);
    check(c, false, true, false, true, 2);
    if (HasFailure()) return;
  }
}

// QLinearConv's path: the sums requantized per output channel inside the kernel are the
// int32 sums requantized afterwards (kernels::requantize, tested against ONNX Runtime's
// formula), for int8 and uint8 outputs, with and without bias, one and two threads.
TEST_P(Int8ConvKernel, RequantizedOutputIsTheSumsRequantized) {
  for (const Case& c : kCases) {
    for (int t = 0; t < 4; ++t) {
      SCOPED_TRACE(::testing::Message() << c.what << ", variant " << t);
      set_num_threads(1 + t / 2);
      const ConvShape s = shape_of(c);
      const Data d = random_data(s, false, t & 1, true);
      const size_t ny = static_cast<size_t>(s.batch * s.out_channels * s.out_size());
      std::vector<int32_t> sums(ny), bias;
      std::vector<float> multipliers;
      for (int64_t m = 0; m < s.out_channels; ++m) {
        bias.push_back(static_cast<int32_t>(m * 37 % 201) - 100);
        multipliers.push_back(1e-3f * static_cast<float>(1 + m % 7));
      }
      const kernels::Requantization r{t & 2 ? bias.data() : nullptr, multipliers.data(), true,
                                      t & 1 ? -5 : 120, static_cast<bool>(t & 1)};
      const kernels::Int8ConvInput x{d.x.data(), false, d.zx};
      const kernels::Int8ConvWeights w{d.w.data(), static_cast<bool>(t & 1), d.zw.data()};
      kernels::int8_conv(s, x, w, false, sums.data());
      std::vector<uint8_t> want(ny), got(ny, 0xa5);
      kernels::requantize(sums.data(), s.batch, s.out_channels, s.out_size(), r, want.data());
      kernels::int8_conv_requantized(s, x, w, false, r, got.data());
      ASSERT_EQ(got, want);
    }
  }
}

TAMP_ON_EVERY_SIMD_TARGET(Int8ConvKernel);

}  // namespace
}  // namespace tamp::test
