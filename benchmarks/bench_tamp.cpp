// tamp's side of the training benchmark: full training steps (forward, cross-entropy,
// backward, SGD momentum update) at batch 64 on random data, for the reference models
// written in C++ (--source cpp) or imported from the ONNX files PyTorch exported
// (--source onnx). benchmarks/compare.py runs it alternately with bench_torch.
//
//   bench_tamp --model mlp|cnn|transformer [--source cpp|onnx] [--threads N] [--warmup W]
//              [--steps S] [--rounds R] [--batch B] [--models DIR]
//
// Prints one JSON line per round, the same fields as bench_torch.
#include "reference_models.h"

#include <tamp/autograd/threads.h>
#include <tamp/io/onnx_import.h>
#include <tamp/nn/loss.h>
#include <tamp/nn/sgd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <functional>

using namespace tamp;

namespace {

double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  }
  return -1;
}

struct Options {
  std::string model = "mlp", source = "cpp", models_dir;
  int threads = 1, warmup = 20, steps = 100, rounds = 3;
  int64_t batch = 64;
};

// A model as the benchmark drives it: its parameters and a forward function.
struct Trainable {
  nn::NamedParameters params;
  std::function<Variable(const Variable&)> forward;
  std::shared_ptr<void> keep_alive;
};

Trainable load(const Options& o, Generator& rng) {
  if (o.source == "cpp") {
    auto layer = examples::reference_model(o.model, rng);
    layer->train();
    return {layer->named_parameters(), [layer](const Variable& x) { return layer->forward(x); }, layer};
  }
  auto module = std::make_shared<nn::GraphModule>(io::load_onnx(o.models_dir + "/" + o.model + ".onnx"));
  module->train();
  return {module->named_parameters(), [module](const Variable& x) { return module->forward(x); }, module};
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  o.models_dir = std::string(TAMP_SOURCE_DIR) + "/tests/data/models";
  CLI::App app{"tamp training-step benchmark"};
  app.add_option("--model", o.model)->check(CLI::IsMember({"mlp", "cnn", "transformer"}));
  app.add_option("--source", o.source, "cpp: models written with tamp's layers; onnx: imported")
      ->check(CLI::IsMember({"cpp", "onnx"}));
  app.add_option("--models", o.models_dir, "folder of the exported .onnx models");
  app.add_option("--threads", o.threads)->check(CLI::PositiveNumber);
  app.add_option("--warmup", o.warmup)->check(CLI::NonNegativeNumber);
  app.add_option("--steps", o.steps)->check(CLI::PositiveNumber);
  app.add_option("--rounds", o.rounds)->check(CLI::PositiveNumber);
  app.add_option("--batch", o.batch)->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  try {
    set_num_threads(o.threads);
    Generator rng(1);
    Trainable model = load(o, rng);
    Shape shape{o.batch};
    for (int64_t d : examples::reference_input_shape(o.model)) shape.push_back(d);
    // A few distinct batches, made before timing, so the loop measures training only.
    constexpr int kBatches = 8;
    std::vector<Variable> inputs, labels;
    for (int i = 0; i < kBatches; ++i) {
      Tensor x = Tensor::empty(shape);
      for (int64_t j = 0; j < x.numel(); ++j) x.data<float>()[j] = rng.normal();
      Tensor y = Tensor::empty({o.batch}, DType::kInt64);
      for (int64_t j = 0; j < o.batch; ++j) y.data<int64_t>()[j] = static_cast<int64_t>(rng.below(10));
      inputs.emplace_back(x);
      labels.emplace_back(y);
    }
    nn::Sgd optimizer(model.params, {.lr = 0.01, .momentum = 0.9});
    int64_t step = 0;
    auto train_step = [&] {
      Variable loss = nn::cross_entropy(model.forward(inputs[step % kBatches]), labels[step % kBatches]);
      loss.backward();
      optimizer.step();
      optimizer.zero_grad();
      ++step;
      return loss.value().item();
    };
    for (int i = 0; i < o.warmup; ++i) train_step();
    for (int r = 0; r < o.rounds; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      double loss = 0;
      for (int i = 0; i < o.steps; ++i) loss = train_step();
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      fmt::print("{{\"side\":\"tamp\",\"source\":\"{}\",\"model\":\"{}\",\"threads\":{},\"batch\":{},\"round\":{},"
                 "\"steps\":{},\"seconds\":{:.6f},\"samples_per_s\":{:.1f},\"peak_rss_mib\":{:.1f},\"loss\":{:.5f}}}\n",
                 o.source, o.model, o.threads, o.batch, r, o.steps, seconds, o.steps * o.batch / seconds,
                 peak_rss_mib(), loss);
      std::fflush(stdout);
    }
  } catch (const Error& e) {
    fmt::print(stderr, "bench_tamp: {}\n", e.what());
    return 1;
  }
  return 0;
}
