// The Fashion-MNIST budgets on the whole data set (label "slow"; run with
// OMP_NUM_THREADS=1 nice -n 10 build/.../quantization_tests --gtest_filter='SlowQuant*'):
//  - the CNN and its BatchNorm variant trained in fp32, then one epoch of QAT: the exported QDQ
//    model in ONNX Runtime loses <= 0.3 pt against fp32; ORT's argmax agrees with tamp's
//    simulated model on >= 99.9 % of the test set and the logits differ by at most one output
//    quantization step; the same for QOperator;
//  - static PTQ of the trained CNN with each calibration method: <= 1 pt in ORT;
//  - every export of the portable target (the default) — the CNN, CNN-BN, MLP and tiny
//    transformer; static PTQ with each calibration method, dynamic, QAT; QDQ and QOperator —
//    agrees with ORT on this CPU on >= 99.9 % of argmaxes, within one output step, and ORT's
//    accuracy is tamp's simulated accuracy within 0.05 pt (issue 17);
//  - the accuracy cost of the portable target (uint8 weights) and of 7-bit reduce-range
//    weights against full int8 after QAT.
// Each test prints its figures ("[ figures ] ...") for the README and docs.
#include <tamp/compression/quantization/batch_norm_folding.h>
#include <tamp/compression/quantization/ptq/dynamic_quantization.h>
#include <tamp/compression/quantization/ptq/static_quantization.h>
#include <tamp/compression/quantization/qat/qat.h>

#include <tamp/nn/init.h>

#include "support/host_cpu.h"

#include "quant_test_support.h"
#include "quantized_value_trace.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>
#include <utility>
#include <vector>

namespace tamp::test {
namespace {

using namespace compression;

constexpr int kFloatEpochs = 2;

struct FloatModel {
  nn::Graph graph;  // trained, as exported (BatchNorm unfolded)
  double top1 = 0;  // tamp, eval mode, 10000 test images
};

// fp32 training from the model file's initialisation (SGD momentum 0.9, cosine over the run).
const FloatModel& trained(const std::string& name) {
  static std::map<std::string, FloatModel> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  const auto& data = fashion_mnist();
  nn::GraphModule m(load_model(name));
  TrainOptions o{.train = data.train,
                 .epochs = kFloatEpochs,
                 .optimizer = SGD{.lr = 0.02, .momentum = 0.9},
                 .lr_schedule = {.kind = "cosine"}};
  Trainer(m, {}, o).run();
  FloatModel f{m.export_graph(), evaluate(m, *data.test).top1};
  return cache.emplace(name, std::move(f)).first->second;
}

struct Agreement {
  double argmax = 0, max_diff = 0;
};

Agreement compare(const Tensor& a, const Tensor& b) {
  Agreement r;
  const auto x = argmax_rows(a), y = argmax_rows(b);
  for (size_t i = 0; i < x.size(); ++i) r.argmax += x[i] == y[i];
  r.argmax /= static_cast<double>(x.size());
  for (int64_t i = 0; i < a.numel(); ++i)
    r.max_diff = std::max(r.max_diff, std::fabs(a.at(i) - b.at(i)));
  return r;
}

void qat_budget(const std::string& name) {
  const auto& data = fashion_mnist();
  const FloatModel& f = trained(name);
  nn::GraphModule m(f.graph);
  auto qat = std::make_shared<QuantizationAwareTraining>();
  TrainOptions o{.train = data.train, .epochs = 1, .optimizer = SGD{.lr = 0.002, .momentum = 0.9}};
  o.seed = 7;
  const StageRecord r = Trainer(m, {qat}, o).run();
  const Tensor& x = data.test->x();
  const Tensor& y = data.test->y();
  const Tensor sim = tamp_logits(m, x);
  const double step = m.parameter("logits_scale").value().item();
  TempDir dir;
  for (QuantFormat format : {QuantFormat::kQdq, QuantFormat::kQOperator}) {
    const char* fname = format == QuantFormat::kQdq ? "QDQ" : "QOperator";
    const Tensor ort =
        ort_logits(lower_quantized(m.export_graph(), format), x, dir, std::string(fname) + ".onnx");
    const double acc = accuracy(ort, y);
    const Agreement a = compare(sim, ort);
    fmt::print(
        "[ figures ] {} QAT ({} BN folded, {} steps, {:.0f} s): fp32 {:.2f} %, simulated int8 "
        "{:.2f} %, "
        "{} in ORT {:.2f} % (drop {:.2f} pt); argmax agreement tamp vs ORT {:.3f} %, max |logit "
        "diff| {:.4g} "
        "= {:.3f} output steps\n",
        name, qat->folded_batch_norms(), r.steps, r.seconds, 100 * f.top1, 100 * accuracy(sim, y),
        fname, 100 * acc, 100 * (f.top1 - acc), 100 * a.argmax, a.max_diff, a.max_diff / step);
    EXPECT_GE(acc, f.top1 - 0.003) << name << " " << fname;
    EXPECT_GE(a.argmax, 0.999) << name << " " << fname;
    EXPECT_LE(a.max_diff, step * 1.0001) << name << " " << fname;
  }
}

TEST(SlowQuantFashionMnist, CnnQatExportsLoseAtMostThreeTenthsInOrt) { qat_budget("cnn"); }
TEST(SlowQuantFashionMnist, CnnBnQatExportsLoseAtMostThreeTenthsInOrt) {
  qat_budget("cnn_bn_train");
}

// The freeze-BN schedule on the whole data set: from the same fp32 CNN-BN, two epochs of QAT
// with BatchNorm folded at attach (frozen from the start) and with BN live for the first epoch,
// frozen from the second (the default for two epochs). Both exports run in ORT.
TEST(SlowQuantFashionMnist, CnnBnFreezeBnAtEpochOneNoWorseThanFoldAtAttach) {
  const auto& data = fashion_mnist();
  const FloatModel& f = trained("cnn_bn_train");
  std::map<int, double> top1;
  TempDir dir;
  for (int epoch : {0, 1}) {
    nn::Graph g = f.graph;
    for (auto& [name, t] : g.initializers) t = t.clone();
    nn::GraphModule m(g);
    QuantizerOptions q;
    q.freeze_bn_epoch = epoch;
    TrainOptions o{.train = data.train,
                   .epochs = 2,
                   .optimizer = SGD{.lr = 0.002, .momentum = 0.9},
                   .lr_schedule = {.kind = "cosine"}};
    o.seed = 7;
    const StageRecord r = Trainer(m, {std::make_shared<QuantizationAwareTraining>(q)}, o).run();
    const Tensor sim = tamp_logits(m, data.test->x());
    const double ort = accuracy(ort_logits(lower_quantized(m.export_graph(), QuantFormat::kQdq),
                                           data.test->x(), dir, "q.onnx"),
                                data.test->y());
    top1[epoch] = ort;
    fmt::print(
        "[ figures ] cnn_bn_train fp32 {:.2f} % -> 2 epochs QAT ({:.0f} s), freeze_bn_epoch {}: "
        "simulated "
        "{:.2f} %, QDQ in ORT {:.2f} %\n",
        100 * f.top1, r.seconds, epoch, 100 * accuracy(sim, data.test->y()), 100 * ort);
  }
  EXPECT_GE(top1[1], top1[0] - 0.005);  // 10000 images: 0.3 pt is one standard error
}

void static_ptq_budget(const std::vector<ObserverKind>& kinds) {
  const auto& data = fashion_mnist();
  const FloatModel& f = trained("cnn");
  TempDir dir;
  const double fp32_ort =
      accuracy(ort_logits(f.graph, data.test->x(), dir, "fp32.onnx"), data.test->y());
  fmt::print("[ figures ] cnn fp32: tamp {:.2f} %, ORT {:.2f} %\n", 100 * f.top1, 100 * fp32_ort);
  for (ObserverKind kind : kinds) {
    nn::GraphModule m(f.graph);
    QuantizerOptions q;
    q.activations.observer.kind = kind;
    const auto start = std::chrono::steady_clock::now();
    Trainer(m, {std::make_shared<StaticQuantization>(q)},
            {.train = data.train, .calibration_batches = 32})
        .run();
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (QuantFormat format : {QuantFormat::kQdq, QuantFormat::kQOperator}) {
      const char* fname = format == QuantFormat::kQdq ? "QDQ" : "QOperator";
      const double acc = accuracy(
          ort_logits(lower_quantized(m.export_graph(), format), data.test->x(), dir, "ptq.onnx"),
          data.test->y());
      fmt::print(
          "[ figures ] cnn static PTQ {} (32 batches of 64, {:.1f} s): {} in ORT {:.2f} % (drop "
          "{:.2f} pt)\n",
          observer_name(kind), secs, fname, 100 * acc, 100 * (fp32_ort - acc));
      EXPECT_GE(acc, fp32_ort - 0.01) << observer_name(kind) << " " << fname;
    }
  }
}

// Entropy lost 5.77 pt here until its KL search stopped comparing the zero bin (the ReLU spike;
// histogram_range.cpp): it clipped every ReLU output to about half its maximum.
TEST(SlowQuantFashionMnist, StaticPtqCalibrationLosesAtMostOnePoint) {
  static_ptq_budget({ObserverKind::kMinMax, ObserverKind::kMovingAverageMinMax,
                     ObserverKind::kPercentile, ObserverKind::kEntropy, ObserverKind::kMse});
}

// ---- every export agrees with ONNX Runtime for its target (issue 17) ----

// The data a model is measured on: Fashion-MNIST's test set, or for the transformer (whose
// input is not an image) random inputs labelled with the fp32 model's own predictions.
struct Bench {
  nn::Graph fp32;
  Tensor x, y;                               // evaluation
  std::shared_ptr<const nn::Dataset> train;  // calibration and QAT
};

Bench bench(const std::string& name) {
  const auto& data = fashion_mnist();
  if (name != "transformer") {
    const nn::Graph& g = trained(name).graph;
    const Tensor x = fit_input(g.inputs.at(0), data.test->x());
    return {g, x, data.test->y(), data.train};
  }
  Generator rng(17);
  const nn::Graph g = load_model("transformer");
  nn::GraphModule m(g);
  auto labelled = [&](int64_t n) {
    const Tensor x = nn::init::normal({n, 64, 16}, 0, 1, rng);
    const auto am = argmax_rows(tamp_logits(m, x));
    Tensor y = Tensor::empty({n}, DType::kInt64);
    for (int64_t i = 0; i < n; ++i) y.data<int64_t>()[i] = am[static_cast<size_t>(i)];
    return std::make_shared<nn::TensorDataset>(x, y);
  };
  const auto eval = labelled(2000);
  return {g, eval->x(), eval->y(), labelled(4096)};
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::fabs(t.at(i)));
  return m;
}

// The export's output step (its last DequantizeLinear's scale), 0 for a float output.
double output_step_of(const nn::Graph& q) {
  const int p = q.producer(q.outputs.at(0).name);
  const nn::Node& n = q.nodes.at(static_cast<size_t>(p));
  return n.op_type == "DequantizeLinear" ? q.initializers.at(n.inputs.at(1)).at(0) : 0.0;
}

// ORT on this CPU against tamp's simulated model: the bar.
void expect_ort_matches_simulation(const std::string& what, const Tensor& sim,
                                   const nn::Graph& exported, const Bench& b) {
  TempDir dir;
  const Tensor ort = ort_logits(exported, b.x, dir, "export.onnx");
  const Agreement a = compare(sim, ort);
  const double step = output_step_of(exported);
  const double sim_top1 = accuracy(sim, b.y), ort_top1 = accuracy(ort, b.y);
  fmt::print(
      "[ figures ] {} (target {}): argmax agreement tamp vs ORT {:.2f} % of {}, max |diff| {}, "
      "top-1 "
      "simulated {:.2f} %, ORT {:.2f} % ({})\n",
      what, exported.metadata.at("tamp.quantization_target"), 100 * a.argmax, b.y.numel(),
      step > 0 ? fmt::format("{:.3f} output steps", a.max_diff / step)
               : fmt::format("{:.3g}", a.max_diff),
      100 * sim_top1, 100 * ort_top1, host_integer_features());
  // The bar holds for every model, the transformer included: tamp's simulation evaluates the
  // groups ORT fuses (QLinearMatMul, QLinearAdd) and the attention's Softmax (MLAS's exp and
  // sum) with ORT's arithmetic, whose roundings at near-ties used to spread through its twenty
  // requantized ops to random inputs labelled by the untrained model itself
  // (docs/quantization_targets.md, "Evaluation computes what ONNX Runtime's fused kernels
  // compute"). Its output is the head's float bias Add (no output step); LayerNormalization is
  // tamp's, a last bit apart from ORT's at times (TransformerStaticPtqMatchesOrtValueByValue).
  const bool float_ops_between = what.rfind("transformer", 0) == 0;
  EXPECT_GE(a.argmax, 0.999) << what;
  if (step > 0) EXPECT_LE(a.max_diff, step * 1.0001) << what;
  // Dynamic quantization (float output): over the 10,000 test images of the CNN one logit is
  // 0.022 (1e-3 of the largest) apart, one runtime-quantized activation a step away in ORT;
  // the cause (DynamicQuantizeLinear's float scale, or the ConvInteger path) is not isolated.
  else
    EXPECT_LE(a.max_diff, (float_ops_between ? 2e-2 : 2e-3) * std::max(1.0, max_abs(ort))) << what;
  EXPECT_LE(std::fabs(ort_top1 - sim_top1), 0.0005 + 1e-9) << what;
}

// The bench's float model statically quantized (FakeQuantize), activations calibrated by `kind`.
nn::GraphModule statically_quantized(const Bench& b, ObserverKind kind) {
  nn::GraphModule m(b.fp32);
  QuantizerOptions q;
  q.activations.observer.kind = kind;
  Trainer(m, {std::make_shared<StaticQuantization>(q)},
          {.train = b.train, .calibration_batches = 16})
      .run();
  return m;
}

const std::pair<QuantFormat, const char*> kFormats[] = {{QuantFormat::kQdq, "QDQ"},
                                                        {QuantFormat::kQOperator, "QOperator"}};

void every_export_matches_ort(const std::string& name) {
  const Bench b = bench(name);
  const auto& formats = kFormats;
  for (ObserverKind kind :
       {ObserverKind::kMinMax, ObserverKind::kMovingAverageMinMax, ObserverKind::kPercentile,
        ObserverKind::kEntropy, ObserverKind::kMse}) {
    nn::GraphModule m = statically_quantized(b, kind);
    const Tensor sim = tamp_logits(m, b.x);
    for (const auto& [format, fname] : formats) {
      expect_ort_matches_simulation(
          fmt::format("{} static PTQ {} {}", name, observer_name(kind), fname), sim,
          lower_quantized(m.export_graph(), format), b);
    }
  }
  const nn::Graph dynamic = quantize_dynamic(b.fp32);
  nn::GraphModule dm(dynamic);
  expect_ort_matches_simulation(name + " dynamic", tamp_logits(dm, b.x), dynamic, b);
  nn::GraphModule m(b.fp32);
  TrainOptions o{.train = b.train,
                 .epochs = 1,
                 .max_steps_per_epoch = 200,
                 .optimizer = SGD{.lr = 0.002, .momentum = 0.9}};
  o.seed = 7;
  Trainer(m, {std::make_shared<QuantizationAwareTraining>()}, o).run();
  const Tensor sim = tamp_logits(m, b.x);
  for (const auto& [format, fname] : kFormats) {
    expect_ort_matches_simulation(fmt::format("{} QAT (200 steps) {}", name, fname), sim,
                                  lower_quantized(m.export_graph(), format), b);
  }
}

TEST(SlowQuantFashionMnist, PortableExportsOfTheCnnMatchOrt) { every_export_matches_ort("cnn"); }
TEST(SlowQuantFashionMnist, PortableExportsOfTheCnnBnMatchOrt) {
  every_export_matches_ort("cnn_bn_train");
}
TEST(SlowQuantFashionMnist, PortableExportsOfTheMlpMatchOrt) { every_export_matches_ort("mlp"); }
TEST(SlowQuantFashionMnist, PortableExportsOfTheTransformerMatchOrt) {
  every_export_matches_ort("transformer");
}

// One static PTQ export of the transformer against ORT, quantized activation by quantized
// activation: for each input whose argmax ORT and tamp's simulation disagree on, the first
// value (in graph order) where their integers part names the op tamp computes differently;
// then every quantized activation of the first 64 inputs. One case of the test above (267 s on
// the loaded 2-core EPYC against its 754 s): TAMP_TRACE_CALIBRATION picks the calibration
// (default percentile). Percentile: 1 input of 2,000 disagrees, from one LayerNormalization
// output 5.5000005 steps in tamp (LayerNormalization is not modelled); inputs 0..63: none.
TEST(SlowQuantFashionMnist, TransformerStaticPtqMatchesOrtValueByValue) {
  const char* env = std::getenv("TAMP_TRACE_CALIBRATION");
  const ObserverKind kind = observer_from_name(env ? env : "percentile");
  const Bench b = bench("transformer");
  nn::GraphModule m = statically_quantized(b, kind);
  const Tensor sim = tamp_logits(m, b.x);
  TempDir dir;
  const Tensor ort =
      ort_logits(lower_quantized(m.export_graph(), QuantFormat::kQdq), b.x, dir, "export.onnx");
  const auto s = argmax_rows(sim), o = argmax_rows(ort);
  std::vector<int64_t> disagreeing;
  for (size_t i = 0; i < s.size(); ++i)
    if (s[i] != o[i]) disagreeing.push_back(static_cast<int64_t>(i));
  for (int64_t row : disagreeing) {
    for (const auto& d : trace_quantized_values(m.export_graph(), rows_of(b.x, {row}))) {
      if (d.differing == 0) continue;
      fmt::print(
          "[ trace ] input {}: first differing quantized value {} ({} of {} elements, max {} "
          "steps; element {} at {:.7f} steps in tamp before rounding)\n",
          row, d.value, d.differing, d.total, d.max_steps, d.first, d.tamp_float_input);
      break;
    }
  }
  std::vector<int64_t> first(64);
  for (int64_t i = 0; i < 64; ++i) first[static_cast<size_t>(i)] = i;
  for (const auto& d : trace_quantized_values(m.export_graph(), rows_of(b.x, first))) {
    if (d.differing == 0) continue;
    fmt::print("[ trace ] inputs 0..63: {} differs on {} of {} elements (max {} steps)\n", d.value,
               d.differing, d.total, d.max_steps);
  }
  fmt::print("[ figures ] transformer static PTQ {} QDQ: {} of {} inputs disagree\n",
             observer_name(kind), disagreeing.size(), s.size());
  EXPECT_LE(disagreeing.size(), s.size() / 1000);
}

// One epoch of QAT from the trained fp32 CNN with int8 (vnni), uint8 (portable) and 7-bit
// reduce-range weights: the accuracy each target costs. uint8 is the int8 grid moved by 128, so
// the portable run repeats the int8 one exactly; 7 bits halve the weight resolution. Each
// export's accuracy in ORT is measured too, where the CPU computes it exactly.
TEST(SlowQuantFashionMnist, AccuracyCostOfThePortableTargetAfterQat) {
  const auto& data = fashion_mnist();
  const FloatModel& f = trained("cnn");
  std::map<std::string, double> simulated;
  TempDir dir;
  struct Variant {
    const char* name;
    ExportTarget target;
    int bits;
  };
  for (const Variant v : {Variant{"int8 (vnni)", ExportTarget::kVnni, 8},
                          Variant{"uint8 (portable)", ExportTarget::kPortable, 8},
                          Variant{"7-bit reduce-range (portable)", ExportTarget::kPortable, 7}}) {
    nn::Graph g = f.graph;
    for (auto& [name, t] : g.initializers) t = t.clone();
    nn::GraphModule m(g);
    QuantizerOptions q;
    q.weights.bits = v.bits;
    q.target = v.target;
    TrainOptions o{
        .train = data.train, .epochs = 1, .optimizer = SGD{.lr = 0.002, .momentum = 0.9}};
    o.seed = 7;
    const StageRecord r = Trainer(m, {std::make_shared<QuantizationAwareTraining>(q)}, o).run();
    const double sim = accuracy(tamp_logits(m, data.test->x()), data.test->y());
    simulated[v.name] = sim;
    const bool exact_here = v.target == ExportTarget::kPortable || !host_saturates_int16_pairs();
    const double ort = accuracy(ort_logits(lower_quantized(m.export_graph(), QuantFormat::kQdq),
                                           data.test->x(), dir, "q.onnx"),
                                data.test->y());
    fmt::print(
        "[ figures ] cnn fp32 {:.2f} % -> 1 epoch QAT ({:.0f} s), weights {}: simulated {:.2f} %, "
        "QDQ in ORT "
        "{:.2f} % on {}{}\n",
        100 * f.top1, r.seconds, v.name, 100 * sim, 100 * ort, host_integer_features(),
        exact_here ? "" : " (not this target's CPU)");
    if (exact_here) EXPECT_NEAR(ort, sim, 0.0005 + 1e-9) << v.name;
  }
  EXPECT_EQ(simulated["uint8 (portable)"],
            simulated["int8 (vnni)"]);  // the same grid, the same run
  EXPECT_GE(simulated["uint8 (portable)"], simulated["int8 (vnni)"] - 0.001);
}

}  // namespace
}  // namespace tamp::test
