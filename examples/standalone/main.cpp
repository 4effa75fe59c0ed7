// Fine-tunes an ONNX classifier with 2:4 pruning, then quantization-aware training, and
// exports it as int8 QDQ ONNX — built outside tamp's tree against the installed package.
//
//   standalone cnn.onnx cnn_int8.onnx [/usr/share/datasets/fashion-mnist]
//
// With Fashion-MNIST each stage trains 300 steps of 32 images; without a dataset folder 4
// steps on random images (the package test: they prove the pipeline, not the accuracy).
#include <tamp/tamp.h>

#include <fmt/format.h>

#include <string>

using namespace tamp;

namespace {

// 512 random (1, 28, 28) images with random labels 0..9.
nn::TrainTest random_images() {
  Generator g(7);
  const int64_t n = 512;
  Tensor x = Tensor::empty({n, 1, 28, 28});
  Tensor y = Tensor::empty({n}, DType::kInt64);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = g.uniform();
  for (int64_t i = 0; i < n; ++i) y.data<int64_t>()[i] = static_cast<int64_t>(g.below(10));
  auto all = std::make_shared<nn::TensorDataset>(x, y);
  auto [train, test] = all->split(384);
  return {train, test};
}

double zero_fraction(const Tensor& t) {
  int64_t zeros = 0;
  for (int64_t i = 0; i < t.numel(); ++i) zeros += t.data<int8_t>()[i] == 0;
  return t.numel() ? static_cast<double>(zeros) / t.numel() : 0;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 3) {
    fmt::print(stderr, "usage: {} MODEL.onnx OUT.onnx [FASHION_MNIST_DIR]\n", argv[0]);
    return 2;
  }
  fmt::print("tamp {}\n", kVersion);
  nn::GraphModule model = io::load_onnx(argv[1]);
  const bool real_data = argc > 3;
  const nn::TrainTest data = real_data ? io::fashion_mnist(argv[3]) : random_images();
  const TrainOptions options{.train = data.train,
                             .eval = data.test,
                             .epochs = 1,
                             .max_steps_per_epoch = real_data ? 300 : 4,
                             .batch_size = 32,
                             .optimizer = SGD{.lr = 0.01, .momentum = 0.9}};

  // Stage 1: 2:4 sparsity (one shot, then trained with the masks); stage 2: QAT, the masks
  // stay locked.
  auto prune =
      std::make_shared<compression::Pruning>(compression::PruningOptions{.pattern = "2:4"});
  const StageRecord pruned = Trainer(model, {prune}, options).run();
  auto qat = std::make_shared<compression::QuantizationAwareTraining>(compression::QuantizerOptions{
      .weights = compression::qint8_per_channel, .activations = compression::quint8});
  const StageRecord quantized = Trainer(model, {qat}, options).run();
  fmt::print("pruning: {} steps, loss {:.4f}, top-1 {:.3f}\n", pruned.steps, pruned.train_loss,
             pruned.eval.top1);
  fmt::print("QAT:     {} steps, loss {:.4f}, top-1 {:.3f}\n", quantized.steps,
             quantized.train_loss, quantized.eval.top1);

  io::save_onnx_graph(
      compression::lower_quantized(model.export_graph(), compression::QuantFormat::kQdq), argv[2]);

  // What was written: int8 weights that keep the 2:4 zeros, and who wrote it.
  const nn::Graph exported = io::load_onnx_graph(argv[2]);
  int quantize_nodes = 0;
  for (const nn::Node& n : exported.nodes) quantize_nodes += n.op_type == "QuantizeLinear";
  for (const auto& [name, t] : exported.initializers) {
    if (t.dtype() == DType::kInt8 && name.find("zero_point") == std::string::npos)
      fmt::print("{}: int8, {:.0f} % zeros\n", name, 100 * zero_fraction(t));
  }
  nn::GraphModule int8(exported);
  const EvalResult r = evaluate(int8, *data.test);
  fmt::print("{}: {} nodes, {} QuantizeLinear, top-1 {:.3f}, written by {} {}\n", argv[2],
             exported.nodes.size(), quantize_nodes, r.top1, exported.producer_name,
             exported.producer_version);
  return 0;
} catch (const Error& e) {
  fmt::print(stderr, "error: {}\n", e.what());
  return 1;
}
