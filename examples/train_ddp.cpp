// Data-parallel fine-tuning with dist::Context and Trainer: the C++ counterpart of
// `mpirun -np N tamp run recipe.yaml`, and the driver of the tests in tests/dist/.
//
//   mpirun --allow-run-as-root --oversubscribe -np 2 train_ddp --model tests/data/models/cnn.onnx \
//       --batch 32 --epochs 1 --method qat            # 2 ranks x 32 = a global batch of 64
//   train_ddp --model tests/data/models/cnn.onnx --batch 64 --epochs 1 --method qat   # the same,
//   one process
//
// --batch is per rank. Every rank prints one line "rank R/N params HASH masks HASH" (hashes of
// the final parameters and pruning masks: equal lines mean the ranks agree). --dump FILE makes
// rank 0 write every parameter (length-prefixed TensorProtos); with --dump-all-ranks each rank
// writes FILE.rankR. --emulate-ranks N (one process) trains on the order N ranks would see,
// wrapped padding included, so its --batch N*B run is the reference for an N-rank run whose
// last batch is uneven. --fail-rank/--fail-step/--fail-mode make a rank die or hang (tests of
// the watchdog).
#include <tamp/autograd/fnv1a.h>
#include <tamp/autograd/threads.h>
#include <tamp/compression/distillation/distillation.h>
#include <tamp/compression/pruning/pruning.h>
#include <tamp/compression/quantization/ptq/static_quantization.h>
#include <tamp/compression/quantization/qat/qat.h>
#include <tamp/io/idx.h>
#include <tamp/io/onnx_import.h>
#include <tamp/io/tensor_proto.h>
#include <tamp/nn/data_loader.h>
#include <tamp/scheduler/dist.h>
#include <tamp/scheduler/trainer.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <thread>

using namespace tamp;

namespace {

struct Options {
  std::string model, teacher, data = "/usr/share/datasets/fashion-mnist", method = "none", dump,
                              optimizer = "sgd";
  int64_t train_examples = 96, eval_examples = 0, batch = 8, max_steps = -1;
  int epochs = 2, threads = 1, emulate_ranks = 0, fail_rank = -1, fail_step = -1;
  std::string fail_mode = "kill";
  double lr = 0.05, momentum = 0.9;
  uint64_t seed = 1;
  bool dump_all_ranks = false, average_bn = true, sync_bn = false, no_dropout = false,
       stats = false, overlap = true;
  std::string prune_criterion = "magnitude";
};

// Rows of `data` in the order `ranks` shards of batch b would take them together (shard s takes
// positions s, s + n, ...; padded by wrapping), placed so that a one-process Trainer with the
// same seed, shuffling this dataset, visits them in that order.
std::shared_ptr<nn::TensorDataset> emulate_shards(const std::shared_ptr<nn::TensorDataset>& data,
                                                  int ranks, uint64_t seed) {
  const int64_t n = data->size();
  const int64_t padded = (n + ranks - 1) / ranks * ranks;
  nn::DataLoader original(data, {.shuffle = true, .seed = seed, .prefetch = false});
  const auto order = original.epoch_order(0);
  auto dummy = std::make_shared<nn::TensorDataset>(Tensor::zeros({padded, 1}),
                                                   Tensor::zeros({padded}, DType::kInt64));
  nn::DataLoader reference(dummy, {.shuffle = true, .seed = seed, .prefetch = false});
  const auto visit = reference.epoch_order(0);
  std::vector<int64_t> rows(static_cast<size_t>(padded));
  for (int64_t i = 0; i < padded; ++i)
    rows[static_cast<size_t>(visit[static_cast<size_t>(i)])] = order[static_cast<size_t>(i % n)];
  nn::Batch b = data->get_batch(rows);
  return std::make_shared<nn::TensorDataset>(b.x, b.y);
}

void dump(const std::string& path, const nn::GraphModule& model) {
  std::ofstream out(path, std::ios::binary);
  TAMP_CHECK(out.good(), "cannot write {}", path);
  for (const auto& [name, t] : model.state_dict()) {
    const std::string bytes = io::serialize_tensor_proto(t, name);
    const uint64_t len = bytes.size();
    out.write(reinterpret_cast<const char*>(&len), sizeof len);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  TAMP_CHECK(out.good(), "writing {} failed", path);
}

uint64_t mask_hash(const compression::Pruning* pruning) {
  if (!pruning) return 0;
  Fnv1a h;
  for (const auto& [name, m] : pruning->masks()) h.add(name).add(m.raw_data(), m.nbytes());
  return h.value();
}

void fail_now(const std::string& mode) {
  std::fprintf(stderr, "train_ddp: rank pid %ld fails now (%s)\n", static_cast<long>(getpid()),
               mode.c_str());
  std::fflush(stderr);
  if (mode == "kill") std::raise(SIGKILL);
  if (mode == "stop") std::raise(SIGSTOP);
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));  // "hang": alive, never returns
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"data-parallel fine-tuning (run under mpirun)"};
  app.add_option("--model", o.model, "ONNX model")->required();
  app.add_option("--data", o.data, "Fashion-MNIST folder");
  app.add_option("--train-examples", o.train_examples, "first N training images (0: all)");
  app.add_option("--eval-examples", o.eval_examples,
                 "first N test images evaluated after training (0: none)");
  app.add_option("--batch", o.batch, "per-rank batch size")->check(CLI::PositiveNumber);
  app.add_option("--epochs", o.epochs);
  app.add_option("--max-steps", o.max_steps, "steps per epoch at most (-1: whole epochs)");
  app.add_option("--optimizer", o.optimizer)->check(CLI::IsMember({"sgd", "adam"}));
  app.add_option("--lr", o.lr);
  app.add_option("--momentum", o.momentum);
  app.add_option("--seed", o.seed);
  app.add_option("--method", o.method)
      ->check(CLI::IsMember({"none", "qat", "qat-entropy", "prune", "kd", "ptq", "ptq-entropy"}));
  app.add_option("--teacher", o.teacher,
                 "kd: the teacher model (logits at T=4, alpha 0.5, and conv2's output "
                 "through a learned projection)");
  app.add_option("--prune-criterion", o.prune_criterion);
  app.add_option("--threads", o.threads)->check(CLI::PositiveNumber);
  app.add_option("--dump", o.dump, "write the final parameters here (rank 0)");
  app.add_flag("--dump-all-ranks", o.dump_all_ranks, "every rank writes DUMP.rankR");
  app.add_option("--emulate-ranks", o.emulate_ranks,
                 "one process: train on the order N ranks would see");
  app.add_option("--average-bn-stats", o.average_bn,
                 "average BatchNorm running statistics over ranks after each epoch");
  app.add_option("--sync-bn", o.sync_bn,
                 "synchronised BatchNorm: batch statistics over every rank");
  app.add_flag("--no-dropout", o.no_dropout,
               "replace Dropout nodes by Identity (parity needs no random masks)");
  app.add_flag("--stats", o.stats, "print the time spent in collectives per step");
  app.add_option("--overlap", o.overlap,
                 "start gradient allreduces during backward (0: one fused allreduce after it)");
  app.add_option("--fail-rank", o.fail_rank);
  app.add_option("--fail-step", o.fail_step);
  app.add_option("--fail-mode", o.fail_mode)
      ->check(CLI::IsMember({"kill", "stop", "hang", "throw"}));
  CLI11_PARSE(app, argc, argv);

  dist::Context world(argc, argv);
  try {
    set_num_threads(o.threads);
    auto model = io::load_onnx(o.model);
    if (o.no_dropout) {
      nn::Graph g = model.export_graph();
      for (auto& n : g.nodes) {
        if (n.op_type != "Dropout") continue;
        n.op_type = "Identity";
        n.inputs.resize(1);
        n.outputs.resize(1);
        n.attrs = nn::attrs_with({});
      }
      model.set_graph(std::move(g));
    }
    auto data = io::fashion_mnist(o.data);
    auto train = o.train_examples > 0
                     ? data.train->slice(0, std::min(o.train_examples, data.train->size()))
                     : data.train;
    if (o.emulate_ranks > 1) {
      TAMP_CHECK(world.size() == 1, "--emulate-ranks is for one process");
      train = emulate_shards(train, o.emulate_ranks, o.seed);
    }
    std::shared_ptr<compression::Component> component;
    compression::Pruning* pruning = nullptr;
    if (o.method == "qat" || o.method == "qat-entropy") {
      compression::QuantizerOptions q;
      if (o.method == "qat-entropy")
        q.activations.observer.kind = compression::ObserverKind::kEntropy;
      component = std::make_shared<compression::QuantizationAwareTraining>(q);
    } else if (o.method == "prune") {
      auto p = std::make_shared<compression::Pruning>(compression::PruningOptions{
          .target_sparsity = 0.6,
          .criterion = compression::pruning::parse_criterion(o.prune_criterion),
          .schedule = compression::pruning::Schedule::gradual(compression::pruning::Curve::kCubic,
                                                              1, 6, 1)});
      pruning = p.get();
      component = p;
    } else if (o.method == "ptq" || o.method == "ptq-entropy") {
      // Calibration only: --max-steps batches per rank (observers min-max or histogram/entropy).
      compression::QuantizerOptions q;
      if (o.method == "ptq-entropy")
        q.activations.observer.kind = compression::ObserverKind::kEntropy;
      component = std::make_shared<compression::StaticQuantization>(q);
    } else if (o.method == "kd") {
      TAMP_CHECK(!o.teacher.empty(), "--method kd needs --teacher");
      auto teacher = std::make_shared<nn::GraphModule>(io::load_onnx(o.teacher));
      component = std::make_shared<compression::Distillation>(
          teacher, compression::DistillationOptions{.temperature = 4,
                                                    .alpha = 0.5,
                                                    .layers = {{.student = "/conv2/Conv_output_0",
                                                                .teacher = "/conv2/Conv_output_0",
                                                                .weight = 0.1}},
                                                    .seed = 7});
    }
    std::vector<std::shared_ptr<compression::Component>> components;
    if (component) components.push_back(component);

    OptimizerSpec optimizer = SGD{.lr = o.lr, .momentum = o.momentum};
    if (o.optimizer == "adam") optimizer = Adam{.lr = o.lr};
    TrainOptions options{.train = train,
                         .epochs = o.epochs,
                         .max_steps_per_epoch = o.max_steps,
                         .batch_size = o.batch,
                         .optimizer = optimizer,
                         .seed = o.seed};
    if (o.eval_examples > 0)
      options.eval = data.test->slice(0, std::min(o.eval_examples, data.test->size()));
    options.collective = &world.collective();
    options.average_batch_norm_statistics = o.average_bn;
    options.sync_batch_norm = o.sync_bn;
    options.overlap_allreduce = o.overlap;
    if (o.max_steps >= 0) options.calibration_batches = o.max_steps;
    options.log_every = 1;
    int64_t steps_seen = 0;
    options.on_log = [&](const StepLog& log) {
      ++steps_seen;
      if (world.rank() == o.fail_rank && log.step == o.fail_step) {
        if (o.fail_mode == "throw")
          throw Error(fmt::format("rank {} fails at step {} on purpose", world.rank(), log.step));
        fail_now(o.fail_mode);
      }
    };
    world.reset_stats();
    StageRecord r = Trainer(model, components, options).run();
    const dist::CollectiveStats stats = world.stats();

    if (world.is_root()) {
      fmt::print("trained {} steps on {} rank(s) in {:.2f} s, loss {:.4f}\n", r.steps, world.size(),
                 r.seconds, r.train_loss);
      if (r.evaluated)
        fmt::print("eval: top-1 {:.2f} % over {} examples\n", 100 * r.eval.top1, r.eval.count);
      if (o.stats && r.steps > 0) {
        fmt::print("collectives: {} calls ({} nonblocking), {:.1f} KiB, {:.3f} ms per step\n",
                   stats.calls, stats.nonblocking, stats.bytes / 1024.0,
                   1e3 * stats.seconds / static_cast<double>(r.steps));
      }
    }
    std::fflush(stdout);
    world.barrier();
    // One line per rank, in rank order.
    for (int k = 0; k < world.size(); ++k) {
      if (k == world.rank()) {
        fmt::print("rank {}/{} params {:016x} masks {:016x}\n", world.rank(), world.size(),
                   dist::parameter_hash(model), mask_hash(pruning));
        std::fflush(stdout);
      }
      world.barrier();
    }
    if (!o.dump.empty()) {
      if (o.dump_all_ranks)
        dump(fmt::format("{}.rank{}", o.dump, world.rank()), model);
      else if (world.is_root())
        dump(o.dump, model);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_ddp (rank %d): %s\n", world.rank(), e.what());
    world.abort(1);
  }
  return 0;
}
