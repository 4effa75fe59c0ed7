// tamp's integer ops against ONNX Runtime on the CPU the test runs on: with the arithmetic of
// this CPU (autograd/integer_arithmetic.h) MatMulInteger, QLinearConv (both MLAS paths: the
// symmetric indirect convolution and im2col + QGEMM) and a one-node QDQ MatMul that ORT fuses
// give ORT's very integers, saturated int16 pairs included on x86 without VNNI; the exact
// arithmetic then differs from ORT, so the cases can fail. QLinearAdd matches ORT on every
// pair of inputs. Two cases pin where ORT's fused kernels and the unfused QDQ graph round one
// value apart, and that tamp's simulation (FakeQuantize) evaluates to ORT's value there.
#include <tamp/io/onnx_export.h>
#include <tamp/io/onnx_import.h>
#include <tamp/scheduler/evaluate.h>
#include <tamp/scheduler/export_parity.h>

#include "support/host_cpu.h"
#include "support/ort_runner.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <random>

namespace tamp::test {
namespace {

Tensor random_uint8(const Shape& shape, std::mt19937& rng, int lo = 0, int hi = 255) {
  std::uniform_int_distribution<int> d(lo, hi);
  Tensor t = Tensor::empty(shape, DType::kUInt8);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<uint8_t>()[i] = static_cast<uint8_t>(d(rng));
  return t;
}

// Weights as trained int8 weights look, with the large magnitudes that make pairs saturate.
Tensor random_int8(const Shape& shape, std::mt19937& rng) {
  std::uniform_int_distribution<int> d(-128, 127);
  Tensor t = Tensor::empty(shape, DType::kInt8);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<int8_t>()[i] = static_cast<int8_t>(d(rng));
  return t;
}

std::vector<nn::Dim> dims_of(const Shape& s) {
  std::vector<nn::Dim> d;
  for (int64_t v : s) d.push_back(nn::Dim::of(v));
  return d;
}

// `out` of `g` for `x` (input "x"): in ORT, and in tamp with `arithmetic` after fusing as ORT does.
struct Outputs {
  Tensor ort, same_arithmetic, exact;
};

Outputs run_both(const nn::Graph& g, const Tensor& x) {
  TempDir dir;
  io::save_onnx_graph(g, dir.file("m.onnx"));
  Outputs o;
  o.ort = run_ort(dir.file("m.onnx"), {{"x", x}}).at("y");
  for (auto [a, dst] : {std::pair{host_integer_arithmetic(), &o.same_arithmetic},
                        std::pair{IntegerArithmetic::kExact, &o.exact}}) {
    nn::GraphModule m(fused_like_onnx_runtime(g));
    m.set_integer_arithmetic(a);
    NoGradGuard no_grad;
    *dst = m.forward({{"x", Variable(x)}}).at("y").value();
  }
  return o;
}

int64_t differing(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  int64_t n = 0;
  for (int64_t i = 0; i < a.numel(); ++i) n += a.at(i) != b.at(i);
  return n;
}

// tamp with this CPU's arithmetic gives ORT's integers; with the exact one it does not when
// this CPU saturates (every case here has saturating pairs).
void expect_host_arithmetic_is_ort(const Outputs& o, const std::string& what) {
  EXPECT_EQ(differing(o.same_arithmetic, o.ort), 0)
      << what << " (" << host_integer_features() << ")";
  if (host_saturates_int16_pairs()) {
    EXPECT_GT(differing(o.exact, o.ort), 0)
        << what << ": the exact sums should differ from ORT's saturated ones";
  } else {
    EXPECT_EQ(differing(o.exact, o.ort), 0) << what;
  }
}

TEST(OrtIntegerArithmetic, MatMulIntegerSaturatedPairsAlongK) {
  std::mt19937 rng(7);
  for (int64_t k : {37, 64, 300}) {  // odd (a pair with the padding), a block, several K strides
    const int64_t m = 5, n = 19;
    nn::Graph g;
    g.opsets[""] = 13;
    g.inputs.push_back({"x", DType::kUInt8, dims_of({m, k})});
    g.outputs.push_back({"y", DType::kInt32, dims_of({m, n})});
    g.initializers["w"] = random_int8({k, n}, rng);
    g.initializers["x_zp"] = Tensor::scalar(3, DType::kUInt8);
    g.initializers["w_zp"] = random_int8({n}, rng);
    g.nodes.push_back({"mm", "MatMulInteger", "", {"x", "w", "x_zp", "w_zp"}, {"y"}});
    expect_host_arithmetic_is_ort(run_both(g, random_uint8({m, k}, rng, 128, 255)),
                                  fmt::format("K = {}", k));
  }
}

// QLinearConv, uint8 x int8 with zero weight zero points: ORT takes its symmetric indirect
// convolution (ConvSym) when the channels allow, im2col + QGEMM otherwise; both pack the
// filter by kernel position, then input channel.
TEST(OrtIntegerArithmetic, QLinearConvBothMlasPathsSaturateAlike) {
  std::mt19937 rng(11);
  struct Case {
    int64_t cin, cout, stride;
    const char* path;
  };
  for (const Case c : {Case{1, 4, 1, "im2col, one input channel"}, Case{8, 16, 2, "ConvSym"},
                       Case{6, 16, 1, "im2col, pairs across kernel positions"}}) {
    const int64_t h = 9;
    nn::Graph g;
    g.opsets[""] = 13;
    g.inputs.push_back({"x", DType::kUInt8, dims_of({2, c.cin, h, h})});
    const int64_t ho = (h + 2 - 3) / c.stride + 1;
    g.outputs.push_back({"y", DType::kUInt8, dims_of({2, c.cout, ho, ho})});
    g.initializers["w"] = random_int8({c.cout, c.cin, 3, 3}, rng);
    g.initializers["x_scale"] = Tensor::scalar(0.02f);
    g.initializers["x_zp"] = Tensor::scalar(9, DType::kUInt8);
    Tensor ws = Tensor::empty({c.cout});
    for (int64_t i = 0; i < c.cout; ++i)
      ws.data<float>()[i] = 0.01f + 0.001f * static_cast<float>(i);
    g.initializers["w_scale"] = ws;
    g.initializers["w_zp"] = Tensor::zeros({c.cout}, DType::kInt8);
    // One output step spans a few hundred integer units: sums that lose 32003 to a saturated
    // pair land far away, and the uint8 range still holds most outputs.
    g.initializers["y_scale"] = Tensor::scalar(0.02f * 0.015f * 400.0f * static_cast<float>(c.cin));
    g.initializers["y_zp"] = Tensor::scalar(128, DType::kUInt8);
    g.initializers["b"] = Tensor::from_vector<int32_t>(
        {c.cout}, std::vector<int32_t>(static_cast<size_t>(c.cout), 1000));
    Attributes a{{"pads", std::vector<int64_t>{1, 1, 1, 1}},
                 {"strides", std::vector<int64_t>{c.stride, c.stride}},
                 {"kernel_shape", std::vector<int64_t>{3, 3}}};
    g.nodes.push_back({"conv",
                       "QLinearConv",
                       "",
                       {"x", "x_scale", "x_zp", "w", "w_scale", "w_zp", "y_scale", "y_zp", "b"},
                       {"y"},
                       nn::attrs_with(a)});
    expect_host_arithmetic_is_ort(run_both(g, random_uint8({2, c.cin, h, h}, rng, 100, 255)),
                                  c.path);
  }
}

// x (rows, K) -> Q/DQ -> MatMul with DQ(w (K, N) int8) -> Q/DQ -> y, every zero point 0 and
// uint8 activations: the QDQ pattern ONNX Runtime fuses into QLinearMatMul.
nn::Graph qdq_matmul(int64_t rows, const Tensor& w, float x_scale, float w_scale, float y_scale) {
  nn::Graph g;
  g.opsets[""] = 13;
  g.inputs.push_back({"x", DType::kFloat32, dims_of({rows, w.dim(0)})});
  g.outputs.push_back({"y", DType::kFloat32, dims_of({rows, w.dim(1)})});
  g.initializers["x_scale"] = Tensor::scalar(x_scale);
  g.initializers["x_zp"] = Tensor::scalar(0, DType::kUInt8);
  g.initializers["w"] = w;
  g.initializers["w_scale"] = Tensor::scalar(w_scale);
  g.initializers["w_zp"] = Tensor::scalar(0, DType::kInt8);
  g.initializers["y_scale"] = Tensor::scalar(y_scale);
  g.initializers["y_zp"] = Tensor::scalar(0, DType::kUInt8);
  g.nodes.push_back({"qx", "QuantizeLinear", "", {"x", "x_scale", "x_zp"}, {"xq"}});
  g.nodes.push_back({"dqx", "DequantizeLinear", "", {"xq", "x_scale", "x_zp"}, {"xd"}});
  g.nodes.push_back({"dqw", "DequantizeLinear", "", {"w", "w_scale", "w_zp"}, {"wd"}});
  g.nodes.push_back({"mm", "MatMul", "", {"xd", "wd"}, {"yf"}});
  g.nodes.push_back({"qy", "QuantizeLinear", "", {"yf", "y_scale", "y_zp"}, {"yq"}});
  g.nodes.push_back({"dqy", "DequantizeLinear", "", {"yq", "y_scale", "y_zp"}, {"y"}});
  return g;
}

// The case: a one-node QDQ MatMul (ORT fuses it into QLinearMatMul). K = 64 inputs at
// 255 and weights at 127: exactly 64 * 255 * 127 = 2,072,640, but each pair saturates at 32767
// on x86 without VNNI.
TEST(OrtIntegerArithmetic, QdqMatMulFusedByOrtSaturatesLikeTampSays) {
  const int64_t k = 64, n = 3;
  Tensor w = Tensor::empty({k, n}, DType::kInt8);
  for (int64_t i = 0; i < w.numel(); ++i)
    w.data<int8_t>()[i] = static_cast<int8_t>(i % n == 2 ? -7 : 127);
  // y scale 16384: 2,072,640 and 2,097,088 stay below 255 steps
  const nn::Graph g = qdq_matmul(2, w, 1.0f, 1.0f, 16384.0f);
  Tensor x = Tensor::empty({2, k});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = 255.0f;
  const Outputs o = run_both(g, x);
  std::cout << "[ info ] one-node QDQ MatMul, exact sum 2072640: ORT " << o.ort.at(0)
            << ", tamp exact " << o.exact.at(0) << ", tamp "
            << integer_arithmetic_name(host_integer_arithmetic()) << " " << o.same_arithmetic.at(0)
            << " (" << host_integer_features() << ")\n";
  EXPECT_EQ(o.exact.at(0), 16384.0f * 127);  // round(2072640 / 16384) = 127
  expect_host_arithmetic_is_ort(o, "QDQ MatMul");
  if (host_saturates_int16_pairs())
    EXPECT_EQ(o.ort.at(0), 16384.0f * 64);  // 32 * 32767 = 1048544 -> 64 steps
}

// A FakeQuantize node (what QAT and static PTQ insert) on `x` with a per-tensor scale, zero
// point 0 and the integer range [qmin, qmax].
void add_fake_quantize(nn::Graph& g, const std::string& x, float scale, int zero_point,
                       int64_t qmin, int64_t qmax, const std::string& y) {
  g.opsets[std::string(kTampDomain)] = 1;
  g.initializers[y + "_scale"] = Tensor::scalar(scale);
  g.initializers[y + "_zero_point"] = Tensor::scalar(static_cast<float>(zero_point));
  g.nodes.push_back({y + "_FakeQuantize",
                     "FakeQuantize",
                     std::string(kTampDomain),
                     {x, y + "_scale", y + "_zero_point"},
                     {y},
                     nn::attrs_with(Attributes{{"quant_min", qmin}, {"quant_max", qmax}})});
}

// `g` (a FakeQuantize graph) on `inputs`: as evaluation runs it (scheduler/evaluate.h: the
// groups ORT fuses run as ORT's integer kernels), and as training runs it (float).
std::pair<Tensor, Tensor> simulated_and_float(const nn::Graph& g,
                                              const std::map<std::string, Tensor>& inputs) {
  nn::GraphModule m(g);
  m.eval();
  std::map<std::string, Variable> in;
  for (const auto& [name, t] : inputs) in[name] = Variable(t);
  NoGradGuard no_grad;
  const auto simulation = onnx_runtime_simulation(m);
  EXPECT_TRUE(simulation) << "the group was not rewritten";
  const Tensor sim = simulation ? simulation->forward(in).at("y").value() : Tensor();
  return {sim, m.forward(in).at("y").value()};
}

// Why the tiny transformer's static PTQ disagrees with ORT on a few random inputs
// (docs/quantization_targets.md): ORT's QLinearMatMul requantizes an exact int32 sum as
// round(float(acc) * float(x_scale * w_scale / y_scale)); the QDQ graph it fused, and tamp's
// FakeQuantize simulation, round (x_scale * x) * (w_scale * w) / y_scale. Both are float
// roundings of the same rational number, and here it lies 3.2e-6 steps below a .5 boundary:
// 6336 * sa * sw / sy = 53.4999968, which ORT's multiplier turns into exactly 53.5 (ties to
// even: 54) and the QDQ definition into 53.499996 (53). The scales are the transformer's
// layer-0 K projection's; tamp's fused integer op computes ORT's 54 with either arithmetic.
TEST(OrtIntegerArithmetic, QdqMatMulRequantizedByOrtRoundsAFloatTieTheQdqGraphDoesNot) {
  const float sa = 0.028550131f, sw = 0.0054661273f, sy = 0.018482013f;
  Tensor w = Tensor::empty({1, 1}, DType::kInt8);
  w.data<int8_t>()[0] = 99;
  const nn::Graph g = qdq_matmul(1, w, sa, sw, sy);
  const Tensor x =
      Tensor::from_vector<float>({1, 1}, {64 * sa});  // quantizes to 64: acc = 64 * 99 = 6336
  const Outputs o = run_both(g, x);
  Tensor qdq;
  {
    nn::GraphModule m(
        g);  // not fused: the QDQ graph's own float arithmetic, which FakeQuantize simulates
    NoGradGuard no_grad;
    qdq = m.forward({{"x", Variable(x)}}).at("y").value();
  }
  const double exact = 6336.0 * double{sa} * double{sw} / double{sy};
  std::cout << std::setprecision(9) << "[ info ] QDQ MatMul at a float tie: exact " << exact
            << " steps, ORT " << o.ort.at(0) / sy << ", tamp fused " << o.exact.at(0) / sy
            << ", tamp QDQ in float " << qdq.at(0) / sy << "\n";
  ASSERT_GT(exact, 53.49999) << "the case must sit just below the boundary";
  ASSERT_LT(exact, 53.5);
  EXPECT_EQ(o.ort.at(0), 54 * sy);
  EXPECT_EQ(o.exact.at(0), 54 * sy);
  EXPECT_EQ(o.same_arithmetic.at(0), 54 * sy);
  EXPECT_EQ(qdq.at(0), 53 * sy);
  // The same MatMul as tamp simulates it (FakeQuantize x, w and y): evaluation computes ORT's
  // 54, the float training graph the QDQ graph's 53.
  nn::Graph fq;
  fq.opsets[""] = 13;
  fq.inputs.push_back({"x", DType::kFloat32, dims_of({1, 1})});
  fq.outputs.push_back({"y", DType::kFloat32, dims_of({1, 1})});
  fq.initializers["w"] = Tensor::from_vector<float>({1, 1}, {99 * sw});
  add_fake_quantize(fq, "x", sa, 0, 0, 255, "xq");
  add_fake_quantize(fq, "w", sw, 0, -128, 127, "wq");
  fq.nodes.push_back({"mm", "MatMul", "", {"xq", "wq"}, {"yf"}});
  add_fake_quantize(fq, "yf", sy, 0, 0, 255, "y");
  const auto [sim, training] = simulated_and_float(fq, {{"x", x}});
  std::cout << "[ info ] the FakeQuantize MatMul: evaluated " << sim.at(0) / sy
            << " steps, trained (float) " << training.at(0) / sy << "\n";
  EXPECT_EQ(sim.at(0), 54 * sy);
  EXPECT_EQ(training.at(0), 53 * sy);
}

// The residual Add of two quantized activations: ORT fuses DequantizeLinear x2 -> Add ->
// QuantizeLinear into com.microsoft QLinearAdd, whose arithmetic (MLAS qladd.cpp) is not the
// graph's. Over all 65,536 input pairs at these scales 85 come out one step apart, each within
// 3.5e-6 steps of a rounding boundary; (21, 54) is one: exactly -111.499997 steps, so 14 with
// the zero point 125 in ORT, 13 in the QDQ graph's float arithmetic. The export parity check
// (fused_like_onnx_runtime) and the simulation evaluated compute ORT's 14.
TEST(OrtIntegerArithmetic, QdqResidualAddFusedByOrtRoundsAFloatTieTheQdqGraphDoesNot) {
  const float sa = 0.0213f, sb = 0.0371f, sc = 0.0442f;
  nn::Graph g;
  g.opsets[""] = 13;
  g.inputs.push_back({"a", DType::kFloat32, dims_of({1})});
  g.inputs.push_back({"b", DType::kFloat32, dims_of({1})});
  g.outputs.push_back({"y", DType::kFloat32, dims_of({1})});
  g.initializers["sa"] = Tensor::scalar(sa);
  g.initializers["sb"] = Tensor::scalar(sb);
  g.initializers["sc"] = Tensor::scalar(sc);
  g.initializers["za"] = Tensor::scalar(120, DType::kUInt8);
  g.initializers["zb"] = Tensor::scalar(130, DType::kUInt8);
  g.initializers["zc"] = Tensor::scalar(125, DType::kUInt8);
  g.nodes.push_back({"qa", "QuantizeLinear", "", {"a", "sa", "za"}, {"aq"}});
  g.nodes.push_back({"dqa", "DequantizeLinear", "", {"aq", "sa", "za"}, {"ad"}});
  g.nodes.push_back({"qb", "QuantizeLinear", "", {"b", "sb", "zb"}, {"bq"}});
  g.nodes.push_back({"dqb", "DequantizeLinear", "", {"bq", "sb", "zb"}, {"bd"}});
  g.nodes.push_back({"add", "Add", "", {"ad", "bd"}, {"cf"}});
  g.nodes.push_back({"qc", "QuantizeLinear", "", {"cf", "sc", "zc"}, {"cq"}});
  g.nodes.push_back({"dqc", "DequantizeLinear", "", {"cq", "sc", "zc"}, {"y"}});
  const std::map<std::string, Tensor> in{{"a", Tensor::from_vector<float>({1}, {(21 - 120) * sa})},
                                         {"b", Tensor::from_vector<float>({1}, {(54 - 130) * sb})}};
  TempDir dir;
  io::save_onnx_graph(g, dir.file("m.onnx"));
  const std::string optimized = dir.file("opt.onnx");
  const Tensor ort = run_ort(dir.file("m.onnx"), in, {.optimized_model = optimized}).at("y");
  nn::GraphModule m(fused_like_onnx_runtime(g));
  NoGradGuard no_grad;
  const Tensor parity =
      m.forward({{"a", Variable(in.at("a"))}, {"b", Variable(in.at("b"))}}).at("y").value();
  const nn::Graph fused = io::load_onnx_graph(optimized, {.fold_constants = false});
  EXPECT_TRUE(std::any_of(fused.nodes.begin(), fused.nodes.end(), [](const nn::Node& n) {
    return n.op_type == "QLinearAdd";
  })) << "ORT no longer fuses the residual Add: this case no longer explains anything";
  const double exact = ((21 - 120) * double{sa} + (54 - 130) * double{sb}) / double{sc};
  std::cout << std::setprecision(9) << "[ info ] QDQ Add at a float tie: exact " << exact
            << " steps, ORT " << ort.at(0) / sc << ", tamp's parity check (QLinearAdd) "
            << parity.at(0) / sc << "\n";
  EXPECT_EQ(std::lround(ort.at(0) / sc), 14 - 125);
  EXPECT_EQ(std::lround(parity.at(0) / sc), 14 - 125);
  nn::GraphModule unfused(g);
  EXPECT_EQ(std::lround(unfused.forward({{"a", Variable(in.at("a"))}, {"b", Variable(in.at("b"))}})
                            .at("y")
                            .value()
                            .at(0) /
                        sc),
            13 - 125);
  // The same Add as tamp simulates it (a residual Add between FakeQuantize nodes).
  nn::Graph fq;
  fq.opsets[""] = 13;
  fq.inputs = g.inputs;
  fq.outputs = g.outputs;
  add_fake_quantize(fq, "a", sa, 120, 0, 255, "aq");
  add_fake_quantize(fq, "b", sb, 130, 0, 255, "bq");
  fq.nodes.push_back({"add", "Add", "", {"aq", "bq"}, {"cf"}});
  add_fake_quantize(fq, "cf", sc, 125, 0, 255, "y");
  const auto [sim, training] = simulated_and_float(fq, in);
  EXPECT_EQ(std::lround(sim.at(0) / sc), 14 - 125);
  EXPECT_EQ(std::lround(training.at(0) / sc), 13 - 125);
}

// com.microsoft QLinearAdd over every pair of 8-bit inputs, against ONNX Runtime bit for bit:
// tamp's op (MLAS's AVX2 arithmetic, autograd/ops/qlinear_add.cpp) must give ORT's integers,
// where the float arithmetic of the QDQ graph it replaces gives others at some ties. Three
// layouts: two spans (a residual Add), B one value per run of A, A one value per run of B
// (ORT's broadcast spans, which take another order of operations).
struct AddCase {
  float sa, sb, sc;
  int za, zb, zc;
  DType type;
};

nn::Graph qlinear_add_graph(const AddCase& c, const Shape& a_shape, const Shape& b_shape) {
  nn::Graph g;
  g.opsets[""] = 13;
  g.opsets["com.microsoft"] = 1;
  g.inputs.push_back({"a", c.type, dims_of(a_shape)});
  g.inputs.push_back({"b", c.type, dims_of(b_shape)});
  g.outputs.push_back({"y", c.type, dims_of({256, 256})});
  auto zp = [&](int v) {
    return c.type == DType::kUInt8 ? Tensor::scalar(v, DType::kUInt8)
                                   : Tensor::scalar(v, DType::kInt8);
  };
  g.initializers["sa"] = Tensor::scalar(c.sa);
  g.initializers["sb"] = Tensor::scalar(c.sb);
  g.initializers["sc"] = Tensor::scalar(c.sc);
  g.initializers["za"] = zp(c.za);
  g.initializers["zb"] = zp(c.zb);
  g.initializers["zc"] = zp(c.zc);
  g.nodes.push_back({"add",
                     "QLinearAdd",
                     "com.microsoft",
                     {"a", "sa", "za", "b", "sb", "zb", "sc", "zc"},
                     {"y"}});
  return g;
}

// Every 8-bit value along the rows (a) and along the columns (b) of a 256 x 256 grid, as
// full tensors or as one column / one row.
Tensor grid_values(DType type, bool along_rows, bool full) {
  Tensor t =
      Tensor::empty(full ? Shape{256, 256} : (along_rows ? Shape{256, 1} : Shape{1, 256}), type);
  for (int64_t i = 0; i < t.numel(); ++i) {
    const int64_t v = along_rows ? (full ? i / 256 : i) : i % 256;
    if (type == DType::kUInt8)
      t.data<uint8_t>()[i] = static_cast<uint8_t>(v);
    else
      t.data<int8_t>()[i] = static_cast<int8_t>(v - 128);
  }
  return t;
}

TEST(OrtIntegerArithmetic, QLinearAddMatchesOrtOnEveryInputPair) {
  const AddCase cases[] = {
      {0.0213f, 0.0371f, 0.0442f, 120, 130, 125,
       DType::kUInt8},                                    // both ratios < 1 (the tie test's scales)
      {0.05f, 0.03f, 0.02f, 128, 100, 3, DType::kUInt8},  // both > 1
      {0.011f, 0.09f, 0.04f, 0, 255, 128, DType::kUInt8},  // one < 1, one > 1
      {0.0173f, 0.0099f, 0.0211f, -5, 10, 0, DType::kInt8},
  };
  int64_t qdq_differs = 0;
  for (const AddCase& c : cases) {
    struct Layout {
      bool a_full, b_full;
      const char* name;
    };
    for (const Layout l :
         {Layout{true, true, "two spans"}, Layout{true, false, "B one value per run"},
          Layout{false, true, "A one value per run"}}) {
      const Tensor a = grid_values(c.type, true, l.a_full),
                   b = grid_values(c.type, false, l.b_full);
      const nn::Graph g = qlinear_add_graph(c, a.shape(), b.shape());
      TempDir dir;
      io::save_onnx_graph(g, dir.file("m.onnx"));
      const Tensor ort = run_ort(dir.file("m.onnx"), {{"a", a}, {"b", b}}).at("y");
      nn::GraphModule m(g);
      NoGradGuard no_grad;
      const Tensor tamp = m.forward({{"a", Variable(a)}, {"b", Variable(b)}}).at("y").value();
      const std::string what =
          fmt::format("scales {} {} {}, zero points {} {} {}, {}, {}", c.sa, c.sb, c.sc, c.za, c.zb,
                      c.zc, dtype_name(c.type), l.name);
      ASSERT_EQ(tamp.shape(), ort.shape()) << what;
      EXPECT_EQ(differing(tamp, ort), 0) << what << " (" << host_integer_features() << ")";
      // The QDQ graph's float arithmetic, per pair: round((sa (a - za) + sb (b - zb)) / sc) + zc.
      for (int64_t i = 0; i < ort.numel(); ++i) {
        const float qa = static_cast<float>(i / 256 - (c.type == DType::kUInt8 ? 0 : 128)) -
                         static_cast<float>(c.za);
        const float qb = static_cast<float>(i % 256 - (c.type == DType::kUInt8 ? 0 : 128)) -
                         static_cast<float>(c.zb);
        const float sum = c.sa * qa + c.sb * qb;
        const float lo = c.type == DType::kUInt8 ? 0.0f : -128.0f;
        const float q =
            std::clamp(std::nearbyint(sum / c.sc) + static_cast<float>(c.zc), lo, lo + 255.0f);
        qdq_differs += q != static_cast<float>(ort.at(i));
      }
    }
  }
  std::cout << "[ info ] QLinearAdd, 12 x 65,536 pairs: the QDQ graph's float arithmetic differs "
               "from ORT on "
            << qdq_differs << "\n";
  EXPECT_GT(qdq_differs, 0)
      << "ORT's QLinearAdd no longer differs from the QDQ graph: the case tests nothing";
}

TEST(OrtIntegerArithmetic, NamesAndHostDetection) {
  EXPECT_EQ(integer_arithmetic_from_name("avx2"), IntegerArithmetic::kX86Int16Pairs);
  EXPECT_EQ(integer_arithmetic_name(IntegerArithmetic::kExact), "exact");
  EXPECT_THROW(integer_arithmetic_from_name("vnni"), Error);
  std::cout << "[ info ] this CPU: " << host_integer_features()
            << "; ONNX Runtime integer arithmetic "
            << integer_arithmetic_name(host_integer_arithmetic()) << "\n";
  EXPECT_FALSE(host_integer_features().empty());
}

}  // namespace
}  // namespace tamp::test
