// tamp's side of the training benchmark: full training steps (forward, cross-entropy,
// backward, SGD momentum update) at batch 64 on random data, for the reference models
// written in C++ (--source cpp), imported from the ONNX files PyTorch exported (--source
// onnx, tests/data/models), or any classifier in an ONNX file (--onnx FILE).
// benchmarks/compare.py runs it alternately with bench_torch / bench_torch_eager.py.
//
//   bench_tamp --model mlp|cnn|transformer [--source cpp|onnx] [--threads N] [--warmup W]
//              [--steps S] [--rounds R] [--batch B] [--models DIR]
//   bench_tamp --onnx FILE [--vocab V] [--threads N] ...
//
// An imported model's input is the graph's first input: its shape with the first dim as the
// batch, float32 inputs drawn from N(0, 1), int64 ones as token ids in [0, vocab), vocab
// being the rows of the initializer a Gather reads them from (or --vocab). Labels lie in
// [0, classes), classes being the width of the output. Prints one JSON line per round, the
// same fields as bench_torch plus "source" and "simd" (the instruction set of the kernels).
#include "reference_models.h"

#include <tamp/autograd/simd_target.h>
#include <tamp/autograd/threads.h>
#include <tamp/io/onnx_import.h>
#include <tamp/nn/loss.h>
#include <tamp/nn/sgd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <filesystem>
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
  std::string model = "mlp", source = "cpp", models_dir, onnx;
  int threads = 1, warmup = 20, steps = 100, rounds = 3;
  int64_t batch = 64, vocab = 0;
};

// What the benchmark feeds a model: one example's input shape and dtype, and the ranges of
// token ids (int64 inputs) and labels.
struct InputSpec {
  Shape shape;
  DType dtype = DType::kFloat32;
  int64_t vocab = 0;
  int64_t classes = 10;
};

// A model as the benchmark drives it: its parameters and a forward function.
struct Trainable {
  nn::NamedParameters params;
  std::function<Variable(const Variable&)> forward;
  std::shared_ptr<void> keep_alive;
  InputSpec input;
};

// The rows of the embedding table the graph input `input` indexes: the initializer a Gather
// reads with `input` as its indices.
int64_t vocab_of(const nn::Graph& g, const std::string& input) {
  for (const nn::Node& node : g.nodes) {
    if (node.op_type != "Gather" || node.inputs.size() < 2 || node.inputs[1] != input) continue;
    const auto table = g.initializers.find(node.inputs[0]);
    if (table == g.initializers.end()) continue;
    return table->second.shape()[normalize_axis(node.attrs->i("axis", 0), table->second.rank())];
  }
  throw Error(
      fmt::format("the int64 input '{}' is not the indices of a Gather from an initializer, "
                  "so its range of token ids is unknown",
                  input),
      ErrorKind::kInvalidInput, "pass --vocab");
}

InputSpec input_spec(nn::GraphModule& module, const Options& o) {
  const nn::Graph& g = module.graph();
  TAMP_CHECK(
      g.inputs.size() == 1 && g.outputs.size() == 1,
      "the benchmark trains a classifier with one input and one output, the graph has {} and {}",
      g.inputs.size(), g.outputs.size());
  const nn::ValueInfo& in = g.inputs[0];
  TAMP_CHECK(in.has_shape && !in.shape.empty(), "input '{}' declares no shape (batch first)",
             in.name);
  TAMP_CHECK(in.dtype == DType::kFloat32 || in.dtype == DType::kInt64,
             "input '{}' is {}; the benchmark feeds float32 values or int64 token ids", in.name,
             dtype_name(in.dtype));
  InputSpec spec;
  spec.dtype = in.dtype;
  for (size_t i = 1; i < in.shape.size(); ++i) {
    TAMP_CHECK(in.shape[i].known(), "input '{}' dim {} is not a fixed size ('{}')", in.name, i,
               in.shape[i].symbol);
    spec.shape.push_back(in.shape[i].value);
  }
  if (in.dtype == DType::kInt64) spec.vocab = o.vocab > 0 ? o.vocab : vocab_of(g, in.name);
  const nn::ValueInfo& out = g.outputs[0];
  if (out.has_shape && out.shape.size() == 2 && out.shape[1].known()) {
    spec.classes = out.shape[1].value;
  } else {  // undeclared: the width of one forward pass
    NoGradGuard no_grad;
    Shape one{2};
    one.insert(one.end(), spec.shape.begin(), spec.shape.end());
    module.eval();
    spec.classes = module.forward(Variable(Tensor::zeros(one, spec.dtype))).value().shape().back();
  }
  return spec;
}

Trainable load(const Options& o, Generator& rng) {
  if (o.onnx.empty() && o.source == "cpp") {
    auto layer = examples::reference_model(o.model, rng);
    layer->train();
    return {layer->named_parameters(),
            [layer](const Variable& x) { return layer->forward(x); },
            layer,
            {.shape = examples::reference_input_shape(o.model)}};
  }
  const std::string path = o.onnx.empty() ? o.models_dir + "/" + o.model + ".onnx" : o.onnx;
  auto module = std::make_shared<nn::GraphModule>(io::load_onnx(path));
  InputSpec spec;
  try {
    spec = input_spec(*module, o);
  } catch (Error& e) {
    e.add_context(path);
    throw;
  }
  module->train();
  return {module->named_parameters(), [module](const Variable& x) { return module->forward(x); },
          module, spec};
}

// One random batch of inputs as the spec describes them.
Tensor random_input(const InputSpec& spec, int64_t batch, Generator& rng) {
  Shape shape{batch};
  shape.insert(shape.end(), spec.shape.begin(), spec.shape.end());
  Tensor x = Tensor::empty(shape, spec.dtype);
  for (int64_t j = 0; j < x.numel(); ++j) {
    if (spec.dtype == DType::kInt64) {
      x.data<int64_t>()[j] = static_cast<int64_t>(rng.below(static_cast<uint64_t>(spec.vocab)));
    } else {
      x.data<float>()[j] = rng.normal();
    }
  }
  return x;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  o.models_dir = std::string(TAMP_SOURCE_DIR) + "/tests/data/models";
  CLI::App app{"tamp training-step benchmark"};
  auto* model =
      app.add_option("--model", o.model)->check(CLI::IsMember({"mlp", "cnn", "transformer"}));
  auto* source =
      app.add_option("--source", o.source, "cpp: models written with tamp's layers; onnx: imported")
          ->check(CLI::IsMember({"cpp", "onnx"}));
  app.add_option("--models", o.models_dir, "folder of the exported .onnx models");
  app.add_option("--onnx", o.onnx, "train this ONNX classifier instead of a reference model")
      ->check(CLI::ExistingFile)
      ->excludes(model)
      ->excludes(source);
  app.add_option("--vocab", o.vocab,
                 "token ids of an int64 input lie in [0, vocab) (default: the embedding's rows)")
      ->check(CLI::PositiveNumber);
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
    if (!o.onnx.empty()) {
      o.model = std::filesystem::path(o.onnx).stem().string();
      o.source = "onnx";
    }
    // A few distinct batches, made before timing, so the loop measures training only.
    constexpr int kBatches = 8;
    std::vector<Variable> inputs, labels;
    for (int i = 0; i < kBatches; ++i) {
      Tensor y = Tensor::empty({o.batch}, DType::kInt64);
      for (int64_t j = 0; j < o.batch; ++j) {
        y.data<int64_t>()[j] =
            static_cast<int64_t>(rng.below(static_cast<uint64_t>(model.input.classes)));
      }
      inputs.emplace_back(random_input(model.input, o.batch, rng));
      labels.emplace_back(y);
    }
    nn::Sgd optimizer(model.params, {.lr = 0.01, .momentum = 0.9});
    int64_t step = 0;
    auto train_step = [&] {
      Variable loss =
          nn::cross_entropy(model.forward(inputs[step % kBatches]), labels[step % kBatches]);
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
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      fmt::print(
          "{{\"side\":\"tamp\",\"source\":\"{}\",\"model\":\"{}\",\"threads\":{},\"batch\":{},"
          "\"round\":{},"
          "\"steps\":{},\"seconds\":{:.6f},\"samples_per_s\":{:.1f},\"peak_rss_mib\":{:.1f},"
          "\"loss\":{:.5f},"
          "\"simd\":\"{}\"}}\n",
          o.source, o.model, o.threads, o.batch, r, o.steps, seconds, o.steps * o.batch / seconds,
          peak_rss_mib(), loss, simd_target());
      std::fflush(stdout);
    }
  } catch (const Error& e) {
    fmt::print(stderr, "bench_tamp: {}\n", e.what());
    return 1;
  }
  return 0;
}
