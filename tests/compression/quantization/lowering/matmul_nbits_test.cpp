// MatMulNBits: the packing against hand-computed bytes, and tamp's op against ONNX Runtime's
// kernel and a dequantize-then-MatMul reference on random weights.
#include <tamp/autograd/op.h>
#include <tamp/compression/quantization/lowering/matmul_nbits_format.h>
#include <tamp/compression/quantization/ptq/block_quant.h>

#include "compression/quantization/wonly_test_support.h"

#include <gtest/gtest.h>

namespace tamp::test::wonly {
namespace {

using compression::BlockQuantized;
using compression::MatMulNBitsWeights;

Tensor u8(Shape shape, const std::vector<int>& values) {
  Tensor t = Tensor::empty(std::move(shape), DType::kUInt8);
  EXPECT_EQ(t.numel(), static_cast<int64_t>(values.size()));
  for (size_t i = 0; i < values.size(); ++i) t.data<uint8_t>()[i] = static_cast<uint8_t>(values[i]);
  return t;
}

std::vector<int> bytes_of(const Tensor& t) {
  std::vector<int> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(t.data<uint8_t>()[i]);
  return v;
}

BlockQuantized make(int bits, int64_t block, int64_t n, int64_t k, bool zero_points,
                    uint64_t seed) {
  Generator rng(seed);
  BlockQuantized q;
  q.bits = bits;
  q.block_size = block;
  q.q = Tensor::empty({n, k}, DType::kUInt8);
  const int levels = 1 << bits;
  for (int64_t i = 0; i < q.q.numel(); ++i)
    q.q.data<uint8_t>()[i] = static_cast<uint8_t>(rng.uniform() * levels);
  const int64_t kb = (k + block - 1) / block;
  q.scales = Tensor::empty({n, kb});
  for (int64_t i = 0; i < q.scales.numel(); ++i)
    q.scales.data<float>()[i] = 0.005f + 0.05f * rng.uniform();
  if (zero_points) {
    q.zero_points = Tensor::empty({n, kb}, DType::kUInt8);
    for (int64_t i = 0; i < q.zero_points.numel(); ++i)
      q.zero_points.data<uint8_t>()[i] = static_cast<uint8_t>(rng.uniform() * levels);
  }
  return q;
}

TEST(MatMulNBitsPacking, FourBitsLowNibbleFirst) {
  BlockQuantized q;
  q.bits = 4;
  q.block_size = 32;
  std::vector<int> values;
  for (int i = 0; i < 32; ++i) values.push_back(i % 16);
  q.q = u8({1, 32}, values);
  q.scales = Tensor::full({1, 1}, 0.5);
  const MatMulNBitsWeights w = compression::pack_matmul_nbits(q);
  EXPECT_EQ(w.b.shape(), Shape({1, 1, 16}));
  EXPECT_EQ(bytes_of(w.b), std::vector<int>({0x10, 0x32, 0x54, 0x76, 0x98, 0xBA, 0xDC, 0xFE, 0x10,
                                             0x32, 0x54, 0x76, 0x98, 0xBA, 0xDC, 0xFE}));
  EXPECT_EQ(w.scales.shape(), Shape({1}));
  EXPECT_FALSE(w.zero_points.defined());
  // Without zero points the zero point is 8: code 0 is -8 * scale.
  const Tensor deq = compression::dequantize(w);
  EXPECT_FLOAT_EQ(deq.data<float>()[0], -4.0f);
  EXPECT_FLOAT_EQ(deq.data<float>()[15], 3.5f);
}

TEST(MatMulNBitsPacking, PaddedLastBlockAndPackedZeroPoints) {
  // K = 40 in blocks of 16: three blocks, the last holding 8 columns and 8 of padding.
  BlockQuantized q;
  q.bits = 4;
  q.block_size = 16;
  std::vector<int> values;
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 40; ++c) values.push_back((c + r) % 16);
  q.q = u8({2, 40}, values);
  q.scales = Tensor::full({2, 3}, 1.0);
  q.zero_points = u8({2, 3}, {1, 2, 3, 4, 5, 6});
  const MatMulNBitsWeights w = compression::pack_matmul_nbits(q);
  ASSERT_EQ(w.b.shape(), Shape({2, 3, 8}));
  const std::vector<int> b = bytes_of(w.b);
  // Row 0, block 2: columns 32..39 hold 0..7, then padding with the block's zero point 3.
  EXPECT_EQ(std::vector<int>(b.begin() + 16, b.begin() + 24),
            std::vector<int>({0x10, 0x32, 0x54, 0x76, 0x33, 0x33, 0x33, 0x33}));
  // Row 1, block 0: columns 0..15 hold 1..15, 0.
  EXPECT_EQ(std::vector<int>(b.begin() + 24, b.begin() + 32),
            std::vector<int>({0x21, 0x43, 0x65, 0x87, 0xA9, 0xCB, 0xED, 0x0F}));
  // Zero points: ceil(3 blocks * 4 bits / 8) = 2 bytes per row, low nibble first.
  EXPECT_EQ(bytes_of(w.zero_points), std::vector<int>({0x21, 0x03, 0x54, 0x06}));
  EXPECT_EQ(w.scales.shape(), Shape({6}));

  const BlockQuantized back = compression::unpack_matmul_nbits(w);
  EXPECT_EQ(bytes_of(back.q), values);
  EXPECT_EQ(bytes_of(back.zero_points), std::vector<int>({1, 2, 3, 4, 5, 6}));
}

TEST(MatMulNBitsPacking, EightBitsOneBytePerValue) {
  BlockQuantized q;
  q.bits = 8;
  q.block_size = 16;
  std::vector<int> values;
  for (int c = 0; c < 20; ++c) values.push_back(200 + c);
  q.q = u8({1, 20}, values);
  q.scales = Tensor::full({1, 2}, 0.25);
  q.zero_points = u8({1, 2}, {7, 9});
  const MatMulNBitsWeights w = compression::pack_matmul_nbits(q);
  std::vector<int> expected = values;
  for (int i = 0; i < 12; ++i) expected.push_back(9);
  EXPECT_EQ(bytes_of(w.b), expected);
  EXPECT_EQ(bytes_of(w.zero_points), std::vector<int>({7, 9}));
  EXPECT_FLOAT_EQ(compression::dequantize(w).data<float>()[19], (219 - 9) * 0.25f);
}

TEST(MatMulNBitsPacking, RejectsBadFormats) {
  BlockQuantized q = make(4, 32, 2, 64, false, 1);
  q.bits = 3;
  EXPECT_THROW(compression::pack_matmul_nbits(q), Error);
  q.bits = 4;
  q.block_size = 24;
  EXPECT_THROW(compression::pack_matmul_nbits(q), Error);
  q.block_size = 32;
  q.q.data<uint8_t>()[5] = 16;  // does not fit in 4 bits
  EXPECT_THROW(compression::pack_matmul_nbits(q), Error);
  q.q.data<uint8_t>()[5] = 15;
  q.scales = Tensor::full({2, 3}, 1.0);  // K = 64 in blocks of 32 has 2 blocks
  EXPECT_THROW(compression::pack_matmul_nbits(q), Error);
}

nn::Graph matmul_nbits_graph(const MatMulNBitsWeights& w, const Shape& a_shape) {
  nn::Graph g;
  g.opsets["com.microsoft"] = 1;
  std::vector<nn::Dim> dims;
  for (int64_t d : a_shape) dims.push_back(nn::Dim::of(d));
  g.inputs.push_back({"A", DType::kFloat32, dims});
  g.initializers["B"] = w.b;
  g.initializers["scales"] = w.scales;
  std::vector<std::string> inputs{"A", "B", "scales"};
  if (w.zero_points.defined()) {
    g.initializers["zero_points"] = w.zero_points;
    inputs.push_back("zero_points");
  }
  g.nodes.push_back(
      {"q",
       "MatMulNBits",
       "com.microsoft",
       inputs,
       {"Y"},
       nn::attrs_with(
           {{"K", w.k}, {"N", w.n}, {"bits", int64_t{w.bits}}, {"block_size", w.block_size}})});
  std::vector<nn::Dim> out = dims;
  out.back() = nn::Dim::of(w.n);
  g.outputs.push_back({"Y", DType::kFloat32, out});
  g.validate();
  return g;
}

// A * dequantize(W)^T with tamp's float MatMul.
Tensor reference(const Tensor& a, const MatMulNBitsWeights& w) {
  const Tensor w_kn = compression::to_output_major(compression::dequantize(w));
  return run("MatMul", {a, w_kn})[0];
}

struct Case {
  int bits;
  int64_t k, n, block;
  bool zero_points;
};

class MatMulNBitsOp : public ::testing::TestWithParam<Case> {};

TEST_P(MatMulNBitsOp, MatchesOrtAndDequantizedMatMul) {
  const Case c = GetParam();
  const MatMulNBitsWeights w =
      compression::pack_matmul_nbits(make(c.bits, c.block, c.n, c.k, c.zero_points, 11));
  for (const Shape& a_shape : {Shape{3, c.k}, Shape{2, 5, c.k}}) {
    Generator rng(5);
    Tensor a = Tensor::empty(a_shape);
    for (int64_t i = 0; i < a.numel(); ++i) a.data<float>()[i] = rng.normal();
    const nn::Graph g = matmul_nbits_graph(w, a_shape);
    TempDir dir;
    const Tensor ort = ort_output(g, a, dir, "nbits.onnx");
    const Tensor mine = tamp_output(g, a);
    const Tensor ref = reference(a, w);
    const double tol = 1e-5 * std::max(1.0, max_abs(ref));
    EXPECT_LE(max_abs_diff(mine, ort), tol) << "A " << to_string(a_shape);
    EXPECT_LE(max_abs_diff(ref, ort), tol) << "A " << to_string(a_shape);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, MatMulNBitsOp,
                         ::testing::Values(Case{4, 64, 8, 16, false}, Case{4, 64, 8, 16, true},
                                           Case{4, 100, 12, 32, true}, Case{4, 16, 5, 32, false},
                                           Case{4, 784, 32, 128, true}, Case{8, 256, 40, 64, false},
                                           Case{8, 256, 40, 64, true}, Case{8, 100, 7, 32, true},
                                           Case{8, 48, 24, 16, false}),
                         [](const auto& info) {
                           const Case& c = info.param;
                           return fmt::format("b{}_k{}_n{}_block{}{}", c.bits, c.k, c.n, c.block,
                                              c.zero_points ? "_zp" : "");
                         });

TEST(MatMulNBitsOpChecks, RejectsInconsistentInputs) {
  const OpDef& op = OpRegistry::builtin().get("com.microsoft", "MatMulNBits", 1);
  const MatMulNBitsWeights w = compression::pack_matmul_nbits(make(4, 32, 4, 64, true, 3));
  const Tensor a = Tensor::ones({2, 64});
  auto attrs = [](int64_t k, int64_t bits, int64_t block) {
    return nn::attrs_with({{"K", k}, {"N", int64_t{4}}, {"bits", bits}, {"block_size", block}});
  };
  EXPECT_NO_THROW(run(op, {a, w.b, w.scales, w.zero_points}, attrs(64, 4, 32)));
  EXPECT_THROW(run(op, {a, w.b, w.scales}, attrs(64, 3, 32)), Error);  // bits
  EXPECT_THROW(run(op, {a, w.b, w.scales}, attrs(64, 4, 24)), Error);  // block size
  EXPECT_THROW(run(op, {a, w.b, w.scales}, attrs(65, 4, 32)), Error);  // K vs A
  EXPECT_THROW(run(op, {Tensor::ones({2, 65}), w.b, w.scales}, attrs(65, 4, 32)), Error);  // K vs B
  EXPECT_THROW(run(op, {a, w.b, Tensor::ones({7})}, attrs(64, 4, 32)), Error);             // scales
  EXPECT_THROW(run(op, {a, w.b, w.scales, Tensor::zeros({3}, DType::kUInt8)}, attrs(64, 4, 32)),
               Error);
  Tensor g_idx = Tensor::zeros({64}, DType::kInt32);
  g_idx.data<int32_t>()[3] = 2;  // only blocks 0 and 1 exist
  EXPECT_THROW(run(op, {a, w.b, w.scales, w.zero_points, g_idx}, attrs(64, 4, 32)), Error);
}

TEST(MatMulNBitsOpChecks, GroupIndexPicksTheScaleOfEachColumn) {
  // With g_idx, column c keeps its place in B but takes the scale of block g_idx[c].
  const OpDef& op = OpRegistry::builtin().get("com.microsoft", "MatMulNBits", 1);
  BlockQuantized q = make(4, 16, 3, 32, true, 9);
  const MatMulNBitsWeights w = compression::pack_matmul_nbits(q);
  Tensor g_idx = Tensor::empty({32}, DType::kInt32);
  for (int c = 0; c < 32; ++c) g_idx.data<int32_t>()[c] = c % 2;
  Tensor a = Tensor::zeros({1, 32});
  a.data<float>()[5] = 1;  // picks column 5: block 1 by g_idx, block 0 by position
  const Tensor y = run(op, {a, w.b, w.scales, w.zero_points, g_idx},
                       nn::attrs_with({{"K", int64_t{32}},
                                       {"N", int64_t{3}},
                                       {"bits", int64_t{4}},
                                       {"block_size", int64_t{16}}}))[0];
  for (int r = 0; r < 3; ++r) {
    const float expected = static_cast<float>(int{q.q.data<uint8_t>()[r * 32 + 5]} -
                                              int{q.zero_points.data<uint8_t>()[r * 2 + 1]}) *
                           q.scales.data<float>()[r * 2 + 1];
    EXPECT_FLOAT_EQ(y.data<float>()[r], expected);
  }
}

}  // namespace
}  // namespace tamp::test::wonly
