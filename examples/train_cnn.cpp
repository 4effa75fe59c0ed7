// Trains the engine's reference CNN, written in C++ with tamp's layers, on Fashion-MNIST and
// prints the test accuracy after each epoch.
//
//   train_cnn [--epochs 2] [--threads 2] [--data /usr/share/datasets/fashion-mnist]
#include "reference_models.h"

#include <tamp/autograd/threads.h>
#include <tamp/io/idx.h>
#include <tamp/nn/adam.h>
#include <tamp/nn/data_loader.h>
#include <tamp/nn/loss.h>
#include <tamp/nn/lr_schedule.h>
#include <tamp/nn/metrics.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>

using namespace tamp;

namespace {

// Standardises pixels with the training set's mean and deviation (both sets alike): a
// zero-centred input trains this CNN faster than raw [0, 1] pixels.
void standardize(const nn::TrainTest& data) {
  const Tensor& train = data.train->x();
  double sum = 0, sq = 0;
  const float* p = train.data<float>();
  for (int64_t i = 0; i < train.numel(); ++i) {
    sum += p[i];
    sq += static_cast<double>(p[i]) * p[i];
  }
  const double mean = sum / train.numel();
  const double stddev = std::sqrt(sq / train.numel() - mean * mean);
  for (const auto& set : {data.train, data.test}) {
    Tensor x = set->x();
    float* q = x.data<float>();
    for (int64_t i = 0; i < x.numel(); ++i) q[i] = static_cast<float>((q[i] - mean) / stddev);
  }
}

double test_accuracy(nn::Layer& model, const std::shared_ptr<const nn::Dataset>& test) {
  model.eval();
  NoGradGuard no_grad;
  nn::DataLoader loader(test, {.batch_size = 500, .shuffle = false});
  int64_t hits = 0;
  for (const nn::Batch& b : loader)
    hits += nn::count_correct(model.forward(Variable(b.x)).value(), b.y);
  model.train();
  return static_cast<double>(hits) / test->size();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Train the reference CNN on Fashion-MNIST"};
  int epochs = 2, threads = 2;
  int64_t batch = 64;
  double lr = 3e-3, smoothing = 0.1;
  uint64_t seed = 1;
  std::string dir = "/usr/share/datasets/fashion-mnist";
  app.add_option("--epochs", epochs, "training epochs")->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "OpenMP threads")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "peak Adam learning rate (cosine decay to 0 over the run)");
  app.add_option("--label-smoothing", smoothing, "cross-entropy label smoothing");
  app.add_option("--batch", batch, "batch size")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "initialisation and data order");
  app.add_option("--data", dir, "folder with the Fashion-MNIST .gz files");
  CLI11_PARSE(app, argc, argv);

  try {
    set_num_threads(threads);
    Generator rng(seed);
    const nn::TrainTest data = io::fashion_mnist(dir);
    standardize(data);
    auto model = examples::reference_model("cnn", rng);
    nn::Adam optimizer(model->named_parameters(), {.lr = lr});
    nn::DataLoader loader(data.train, {.batch_size = batch, .shuffle = true, .seed = seed});
    const nn::CosineAnnealingLr schedule(lr, epochs * loader.num_batches());
    int64_t step = 0;
    for (int epoch = 0; epoch < epochs; ++epoch) {
      const auto start = std::chrono::steady_clock::now();
      loader.set_epoch(epoch);
      nn::RunningMean loss_mean;
      for (const nn::Batch& b : loader) {
        schedule.apply(optimizer, step++);
        Variable loss = nn::cross_entropy(model->forward(Variable(b.x)), Variable(b.y),
                                          {.label_smoothing = smoothing});
        loss.backward();
        optimizer.step();
        optimizer.zero_grad();
        loss_mean.add(loss.value().item(), b.x.dim(0));
      }
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      fmt::print("epoch {}: train loss {:.4f}, test accuracy {:.2f} %, {:.0f} samples/s\n",
                 epoch + 1, loss_mean.mean(), 100 * test_accuracy(*model, data.test),
                 data.train->size() / secs);
    }
  } catch (const Error& e) {
    fmt::print(stderr, "train_cnn: {}\n", e.what());
    return 1;
  }
  return 0;
}
