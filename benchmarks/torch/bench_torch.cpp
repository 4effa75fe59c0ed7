// The peer side of tamp's training benchmark: the same three models trained with libtorch
// (Debian's libtorch-dev 1.13), batch 64, SGD with momentum, on random data.
//
//   bench_torch --model mlp|cnn|transformer --threads N --warmup W --steps S --rounds R
//
// Prints one JSON line per round: {"side":"torch","model":...,"samples_per_s":...,
// "peak_rss_mib":...}. Run it with LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp
// (benchmarks/compare.py does): Debian's libtorch otherwise finds the reference BLAS and its
// Linear layers run ~15x slower.
//
// The models match scripts/export_test_models.py (mlp, cnn, transformer).
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace {

constexpr int64_t kClasses = 10;

struct MlpImpl : torch::nn::Module {
  MlpImpl()
      : fc1(register_module("fc1", torch::nn::Linear(784, 512))),
        fc2(register_module("fc2", torch::nn::Linear(512, 256))),
        fc3(register_module("fc3", torch::nn::Linear(256, kClasses))) {}
  torch::Tensor forward(torch::Tensor x) { return fc3(torch::relu(fc2(torch::relu(fc1(x))))); }
  torch::nn::Linear fc1, fc2, fc3;
};
TORCH_MODULE(Mlp);

struct CnnImpl : torch::nn::Module {
  CnnImpl()
      : conv1(register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 32, 3)))),
        conv2(register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(32, 64, 3)))),
        fc1(register_module("fc1", torch::nn::Linear(64 * 5 * 5, 128))),
        fc2(register_module("fc2", torch::nn::Linear(128, kClasses))) {}
  torch::Tensor forward(torch::Tensor x) {            // (N, 1, 28, 28)
    x = torch::max_pool2d(torch::relu(conv1(x)), 2);  // (N, 32, 13, 13)
    x = torch::max_pool2d(torch::relu(conv2(x)), 2);  // (N, 64, 5, 5)
    return fc2(torch::relu(fc1(torch::flatten(x, 1))));
  }
  torch::nn::Conv2d conv1, conv2;
  torch::nn::Linear fc1, fc2;
};
TORCH_MODULE(Cnn);

// Post-norm encoder layer with the attention written out, as in the exported test model.
struct EncoderLayerImpl : torch::nn::Module {
  EncoderLayerImpl(int64_t d_model, int64_t heads, int64_t d_ff)
      : heads_(heads),
        d_head_(d_model / heads),
        q(register_module("q", torch::nn::Linear(d_model, d_model))),
        k(register_module("k", torch::nn::Linear(d_model, d_model))),
        v(register_module("v", torch::nn::Linear(d_model, d_model))),
        proj(register_module("proj", torch::nn::Linear(d_model, d_model))),
        ff1(register_module("ff1", torch::nn::Linear(d_model, d_ff))),
        ff2(register_module("ff2", torch::nn::Linear(d_ff, d_model))),
        norm1(
            register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d_model})))),
        norm2(register_module("norm2",
                              torch::nn::LayerNorm(torch::nn::LayerNormOptions({d_model})))) {}

  torch::Tensor split_heads(const torch::Tensor& x) const {  // (B, S, D) -> (B, H, S, Dh)
    return x.reshape({x.size(0), x.size(1), heads_, d_head_}).transpose(1, 2);
  }
  torch::Tensor forward(torch::Tensor x) {  // (B, S, D)
    auto qh = split_heads(q(x)), kh = split_heads(k(x)), vh = split_heads(v(x));
    auto scores = torch::matmul(qh, kh.transpose(2, 3)) * (1.0 / std::sqrt(double(d_head_)));
    auto attn = torch::matmul(torch::softmax(scores, -1), vh);  // (B, H, S, Dh)
    attn = attn.transpose(1, 2).reshape({x.size(0), x.size(1), heads_ * d_head_});
    x = norm1(x + proj(attn));
    return norm2(x + ff2(torch::relu(ff1(x))));
  }
  int64_t heads_, d_head_;
  torch::nn::Linear q, k, v, proj, ff1, ff2;
  torch::nn::LayerNorm norm1, norm2;
};
TORCH_MODULE(EncoderLayer);

struct TransformerImpl : torch::nn::Module {
  static constexpr int64_t kSeq = 64, kIn = 16, kModel = 128, kHeads = 4, kFf = 512, kLayers = 2;
  TransformerImpl()
      : embed(register_module("embed", torch::nn::Linear(kIn, kModel))),
        pos(register_parameter("pos", torch::randn({kSeq, kModel}) * 0.1)),
        head(register_module("head", torch::nn::Linear(kModel, kClasses))) {
    for (int64_t i = 0; i < kLayers; ++i)
      layers.push_back(
          register_module("layer" + std::to_string(i), EncoderLayer(kModel, kHeads, kFf)));
  }
  torch::Tensor forward(torch::Tensor x) {  // (B, 64, 16)
    x = embed(x) + pos;
    for (auto& layer : layers) x = layer(x);
    return head(x.mean(1));
  }
  torch::nn::Linear embed;
  torch::Tensor pos;
  std::vector<EncoderLayer> layers;
  torch::nn::Linear head;
};
TORCH_MODULE(Transformer);

struct Options {
  std::string model = "mlp";
  int threads = 1, warmup = 20, steps = 100, rounds = 3, batch = 64;
  double lr = 0.01, momentum = 0.9;
};

[[noreturn]] void usage(const std::string& message) {
  if (!message.empty()) std::cerr << "bench_torch: " << message << "\n";
  std::cerr
      << "usage: bench_torch --model mlp|cnn|transformer [--threads N] [--warmup W] [--steps S]"
         " [--rounds R] [--batch B]\n";
  std::exit(2);
}

int positive_int(const std::string& flag, const std::string& value, bool allow_zero = false) {
  char* end = nullptr;
  long v = std::strtol(value.c_str(), &end, 10);
  if (end == value.c_str() || *end != '\0' || v < (allow_zero ? 0 : 1) || v > 1000000)
    usage(flag + " needs a " + (allow_zero ? "non-negative" : "positive") + " integer, got '" +
          value + "'");
  return static_cast<int>(v);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--model")
      o.model = value();
    else if (a == "--threads")
      o.threads = positive_int(a, value());
    else if (a == "--warmup")
      o.warmup = positive_int(a, value(), true);
    else if (a == "--steps")
      o.steps = positive_int(a, value());
    else if (a == "--rounds")
      o.rounds = positive_int(a, value());
    else if (a == "--batch")
      o.batch = positive_int(a, value());
    else if (a == "-h" || a == "--help")
      usage("");
    else
      usage("unknown argument " + a);
  }
  if (o.model != "mlp" && o.model != "cnn" && o.model != "transformer")
    usage("unknown model " + o.model);
  return o;
}

// VmHWM: the process's peak resident set, in MiB.
double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  }
  return -1.0;
}

template <typename Model>
void run(Model model, const Options& o, const std::vector<int64_t>& input_shape) {
  // A few distinct batches, made before timing, so the loop measures training only.
  constexpr int kBatches = 8;
  std::vector<torch::Tensor> inputs, labels;
  for (int i = 0; i < kBatches; ++i) {
    std::vector<int64_t> shape{o.batch};
    shape.insert(shape.end(), input_shape.begin(), input_shape.end());
    inputs.push_back(torch::randn(shape));
    labels.push_back(torch::randint(0, kClasses, {o.batch}, torch::kLong));
  }
  model->train();
  torch::optim::SGD optimizer(model->parameters(),
                              torch::optim::SGDOptions(o.lr).momentum(o.momentum));
  int64_t step = 0;
  float last_loss = 0;
  auto train_step = [&] {
    optimizer.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(model->forward(inputs[step % kBatches]),
                                                     labels[step % kBatches]);
    loss.backward();
    optimizer.step();
    ++step;
    return loss;
  };
  for (int i = 0; i < o.warmup; ++i) train_step();
  for (int r = 0; r < o.rounds; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    torch::Tensor loss;
    for (int i = 0; i < o.steps; ++i) loss = train_step();
    last_loss = loss.item<float>();  // inside the timed region: it waits for nothing on CPU
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf(
        "{\"side\":\"torch\",\"model\":\"%s\",\"threads\":%d,\"batch\":%d,\"round\":%d,\"steps\":%"
        "d,"
        "\"seconds\":%.6f,\"samples_per_s\":%.1f,\"peak_rss_mib\":%.1f,\"loss\":%.5f}\n",
        o.model.c_str(), o.threads, o.batch, r, o.steps, seconds, o.steps * o.batch / seconds,
        peak_rss_mib(), last_loss);
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  // Inter-op threads must be set before any parallel work starts.
  at::set_num_interop_threads(1);
  at::set_num_threads(o.threads);
  torch::manual_seed(0);
  try {
    if (o.model == "mlp")
      run(Mlp(), o, {784});
    else if (o.model == "cnn")
      run(Cnn(), o, {1, 28, 28});
    else
      run(Transformer(), o, {TransformerImpl::kSeq, TransformerImpl::kIn});
  } catch (const std::exception& e) {
    std::cerr << "bench_torch: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
