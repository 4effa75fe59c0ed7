// Trains the engine's reference CNN, written in C++ with tamp's layers, on Fashion-MNIST and
// prints the test accuracy after each epoch.
//
//   train_cnn [--epochs 2] [--threads 2] [--data /usr/share/datasets/fashion-mnist]
#include "reference_models.h"

#include <tamp/autograd/threads.h>
#include <tamp/io/idx.h>
#include <tamp/nn/data_loader.h>
#include <tamp/nn/loss.h>
#include <tamp/nn/metrics.h>
#include <tamp/nn/sgd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>

using namespace tamp;

namespace {

double test_accuracy(nn::Layer& model, const std::shared_ptr<const nn::Dataset>& test) {
  model.eval();
  NoGradGuard no_grad;
  nn::DataLoader loader(test, {.batch_size = 500, .shuffle = false});
  int64_t hits = 0;
  for (const nn::Batch& b : loader) hits += nn::count_correct(model.forward(Variable(b.x)).value(), b.y);
  model.train();
  return static_cast<double>(hits) / test->size();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Train the reference CNN on Fashion-MNIST"};
  int epochs = 2, threads = 2;
  uint64_t seed = 1;
  std::string dir = "/usr/share/datasets/fashion-mnist";
  app.add_option("--epochs", epochs, "training epochs")->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "OpenMP threads")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "initialisation and data order");
  app.add_option("--data", dir, "folder with the Fashion-MNIST .gz files");
  CLI11_PARSE(app, argc, argv);

  try {
    set_num_threads(threads);
    Generator rng(seed);
    const nn::TrainTest data = io::fashion_mnist(dir);
    auto model = examples::reference_model("cnn", rng);
    nn::Sgd optimizer(model->named_parameters(), {.lr = 0.05, .momentum = 0.9});
    nn::DataLoader loader(data.train, {.batch_size = 64, .shuffle = true, .seed = seed});
    for (int epoch = 0; epoch < epochs; ++epoch) {
      const auto start = std::chrono::steady_clock::now();
      loader.set_epoch(epoch);
      nn::RunningMean loss_mean;
      for (const nn::Batch& b : loader) {
        Variable loss = nn::cross_entropy(model->forward(Variable(b.x)), Variable(b.y));
        loss.backward();
        optimizer.step();
        optimizer.zero_grad();
        loss_mean.add(loss.value().item(), b.x.dim(0));
      }
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      fmt::print("epoch {}: train loss {:.4f}, test accuracy {:.2f} %, {:.0f} samples/s\n", epoch + 1,
                 loss_mean.mean(), 100 * test_accuracy(*model, data.test), data.train->size() / secs);
    }
  } catch (const Error& e) {
    fmt::print(stderr, "train_cnn: {}\n", e.what());
    return 1;
  }
  return 0;
}
