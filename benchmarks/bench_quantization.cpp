// What quantization-aware training costs per step, and what the int8 export buys in ONNX
// Runtime, measured side by side in one run (rounds alternate between the variants, so a
// busy machine slows all of them alike; ratios of medians are reported):
//   QAT / fp32 step     cnn.onnx and cnn_bn_train.onnx trained with and without the
//                       QuantizationAwareTraining component (BN folded, FakeQuantize on 4
//                       weights and the activations, moving-average observers every step)
//   ORT latency         the CNN in fp32 and after static PTQ as QDQ and QOperator int8, batch
//                       1 and 64, one intra-op thread (tests/ort/run_ort.js --bench)
//
//   bench_quantization [--threads 1] [--steps 20] [--rounds 9] [--batch 64] [--ort-runs 300]
//                      [--no-ort] [--source DIR]
#include <tamp/autograd/apply.h>
#include <tamp/autograd/threads.h>
#include <tamp/compression/quantization/lower.h>
#include <tamp/compression/quantization/qat.h>
#include <tamp/compression/quantization/static_quantization.h>
#include <tamp/io/onnx_export.h>
#include <tamp/io/onnx_import.h>
#include <tamp/io/tensor_proto.h>
#include <tamp/nn/init.h>
#include <tamp/nn/loss.h>
#include <tamp/nn/sgd.h>
#include <tamp/scheduler/trainer.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <unistd.h>

using namespace tamp;
using namespace tamp::compression;

namespace {

struct Variant {
  std::string name;
  std::shared_ptr<nn::GraphModule> model;
  std::vector<std::shared_ptr<Component>> components;
  std::unique_ptr<nn::Sgd> optimizer;
  int64_t step = 0;
  std::vector<double> ms_per_step;  // one entry per round
};

// One training step as the Trainer runs it (scheduler/trainer.cpp), components included; the
// wanted outputs are asked for at each step, as the Trainer does (observers follow them).
void train_step(Variant& v, const Tensor& x, const Tensor& y) {
  const StepInfo at{0, v.step, 1000, 1000};
  for (auto& c : v.components) c->on_step_begin(at);
  std::vector<std::string> wanted{"logits"};
  for (auto& c : v.components) for (auto& n : c->extra_outputs()) wanted.push_back(n);
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  std::map<std::string, Variable> inputs{{"input", Variable(x)}};
  Variable labels(y);
  auto values = v.model->forward(inputs, wanted);
  Variable loss = nn::cross_entropy(values.at("logits"), labels);
  for (auto& c : v.components) {
    Variable extra = c->extra_loss({inputs, labels, values}, at);
    if (extra.defined()) loss = apply1("Add", {loss, extra});
  }
  loss.backward();
  for (auto& c : v.components) c->on_after_backward(at);
  v.optimizer->step();
  v.optimizer->zero_grad();
  for (auto& c : v.components) c->on_after_step(at);
  ++v.step;
}

Variant make_variant(const std::string& name, const std::string& model_path,
                     std::vector<std::shared_ptr<Component>> components) {
  Variant v;
  v.name = name;
  v.model = std::make_shared<nn::GraphModule>(io::load_onnx_graph(model_path));
  v.model->train();
  v.components = std::move(components);
  for (auto& c : v.components) {
    c->attach(*v.model, nn::local_collective());
    c->on_stage_begin({0, 0, 1000, 1000});
  }
  v.optimizer = std::make_unique<nn::Sgd>(v.model->named_parameters(), nn::SgdOptions{.lr = 0.005, .momentum = 0.9});
  return v;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void compare(std::vector<Variant>& vs, const Tensor& x, const Tensor& y, int steps, int rounds) {
  for (auto& v : vs) for (int i = 0; i < 3; ++i) train_step(v, x, y);  // warm-up; QAT connects its activations
  for (int r = 0; r < rounds; ++r) {
    for (auto& v : vs) {
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < steps; ++i) train_step(v, x, y);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      v.ms_per_step.push_back(ms / steps);
    }
  }
  const double base = median(vs.front().ms_per_step);
  for (const auto& v : vs) {
    const double m = median(v.ms_per_step);
    fmt::print("  {:<40} {:8.3f} ms/step   ratio {:.3f}\n", v.name, m, m / base);
  }
}

double ort_median_ms(const std::string& source, const std::string& model, const std::string& input, int runs) {
  const std::string cmd = fmt::format("node {}/tests/ort/run_ort.js {} --input input={} --bench {} --threads 1",
                                      source, model, input, runs);
  std::array<char, 4096> buf{};
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw Error("cannot run node", ErrorKind::kIo);
  while (fgets(buf.data(), buf.size(), p)) out += buf.data();
  const int rc = pclose(p);
  const auto at = out.find("\"median_ms\":");
  if (rc != 0 || at == std::string::npos) throw Error(fmt::format("`{}` failed: {}", cmd, out), ErrorKind::kIo);
  return std::strtod(out.c_str() + at + 12, nullptr);
}

std::string uptime_text() {
  std::array<char, 256> buf{};
  std::string out;
  if (FILE* p = popen("uptime", "r")) {
    while (fgets(buf.data(), buf.size(), p)) out += buf.data();
    pclose(p);
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Cost of quantization-aware training per step; ORT latency of the int8 CNN against fp32"};
  int threads = 1, steps = 20, rounds = 9, ort_runs = 300;
  int64_t batch = 64;
  bool no_ort = false;
  std::string source = TAMP_SOURCE_DIR;
  app.add_option("--threads", threads)->check(CLI::PositiveNumber);
  app.add_option("--steps", steps, "steps per round and variant")->check(CLI::PositiveNumber);
  app.add_option("--rounds", rounds)->check(CLI::PositiveNumber);
  app.add_option("--batch", batch)->check(CLI::PositiveNumber);
  app.add_option("--ort-runs", ort_runs)->check(CLI::PositiveNumber);
  app.add_flag("--no-ort", no_ort, "skip the ONNX Runtime latency");
  app.add_option("--source", source, "repository root");
  CLI11_PARSE(app, argc, argv);
  try {
    set_num_threads(threads);
    const std::string models = source + "/tests/data/models/";
    Generator rng(1);
    const Tensor x = nn::init::uniform({batch, 1, 28, 28}, 0, 1, rng);
    Tensor y({batch}, DType::kInt64);
    for (int64_t i = 0; i < batch; ++i) y.data<int64_t>()[i] = i % 10;

    fmt::print("load before: {}\n", uptime_text());
    for (const char* name : {"cnn", "cnn_bn_train"}) {
      fmt::print("QAT step vs fp32 step ({}.onnx, batch {}, {} thread(s), SGD, median of {} rounds of {} steps):\n",
                 name, batch, threads, rounds, steps);
      std::vector<Variant> vs;
      vs.push_back(make_variant("fp32", models + name + ".onnx", {}));
      vs.push_back(make_variant("QAT (int8 per-channel W, uint8 A)", models + name + ".onnx",
                                {std::make_shared<QuantizationAwareTraining>()}));
      compare(vs, x, y, steps, rounds);
    }
    fmt::print("load after: {}\n", uptime_text());

    if (!no_ort) {
      fmt::print("\nONNX Runtime, 1 thread, median of {} runs (3 alternating rounds, median): cnn.onnx fp32 vs "
                 "static int8 (minmax, 8 batches):\n", ort_runs);
      const auto dir = std::filesystem::temp_directory_path() / fmt::format("tamp_qbench_{}", ::getpid());
      std::filesystem::create_directories(dir);
      nn::GraphModule m(io::load_onnx_graph(models + "cnn.onnx"));
      const nn::Graph fp32 = m.export_graph();
      auto calib = std::make_shared<nn::TensorDataset>(nn::init::uniform({512, 1, 28, 28}, 0, 1, rng),
                                                       Tensor({512}, DType::kInt64));
      Trainer(m, {std::make_shared<StaticQuantization>()}, {.train = calib, .calibration_batches = 8}).run();
      io::save_onnx_graph(fp32, (dir / "fp32.onnx").string());
      io::save_onnx_graph(lower_quantized(m.export_graph(), QuantFormat::kQdq), (dir / "qdq.onnx").string());
      io::save_onnx_graph(lower_quantized(m.export_graph(), QuantFormat::kQOperator), (dir / "qop.onnx").string());
      for (int64_t b : {int64_t{1}, batch}) {
        const std::string in = (dir / fmt::format("x{}.pb", b)).string();
        io::write_tensor_file(in, nn::init::uniform({b, 1, 28, 28}, 0, 1, rng), "input");
        std::map<std::string, std::vector<double>> ms;
        for (int r = 0; r < 3; ++r) {
          for (const char* f : {"fp32", "qdq", "qop"}) {
            ms[f].push_back(ort_median_ms(source, (dir / (std::string(f) + ".onnx")).string(), in, ort_runs));
          }
        }
        const double base = median(ms["fp32"]);
        fmt::print("  batch {:>3}: fp32 {:.4f} ms, int8 QDQ {:.4f} ms ({:.2f}x), int8 QOperator {:.4f} ms ({:.2f}x)\n",
                   b, base, median(ms["qdq"]), median(ms["qdq"]) / base, median(ms["qop"]),
                   median(ms["qop"]) / base);
      }
      fmt::print("  file sizes: fp32 {} B, QDQ {} B, QOperator {} B\n", std::filesystem::file_size(dir / "fp32.onnx"),
                 std::filesystem::file_size(dir / "qdq.onnx"), std::filesystem::file_size(dir / "qop.onnx"));
      std::filesystem::remove_all(dir);
      fmt::print("load after ORT: {}\n", uptime_text());
    }
  } catch (const Error& e) {
    fmt::print(stderr, "bench_quantization: {}\n", e.what());
    return 1;
  }
  return 0;
}
