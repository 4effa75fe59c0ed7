// Data-parallel throughput: full training steps (forward, cross-entropy, backward, gradient
// allreduce, SGD momentum) of the reference models imported from ONNX, under mpirun or alone.
// The global batch is fixed (--global-batch, default 64); each of the N ranks takes
// global/N of it, so `mpirun -np 2 bench_dist` and `bench_dist` do the same work per step.
//
//   bench_dist --model cnn                                            # 1 process
//   mpirun --allow-run-as-root --oversubscribe -np 2 -x OMP_NUM_THREADS=1 bench_dist --model cnn
//   benchmarks/bench_dist.sh                                          # both, alternately
//
// Rank 0 prints one JSON line per round: global samples/s, step time, and per step the time
// spent after backward in the gradient reduction (dist::GradientReducer::finish: with
// --overlap 1 only what backward did not hide; mean and fastest step) and, with --barrier 1,
// the wait for the slower rank timed apart (a barrier before the reduction); and the main
// thread's CPU time per step (whole step, and inside finish()), which machine load barely
// changes: on a shared machine compare those.
#include <tamp/autograd/threads.h>
#include <tamp/io/onnx_import.h>
#include <tamp/nn/loss.h>
#include <tamp/nn/sgd.h>
#include <tamp/scheduler/dist.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>

using namespace tamp;

namespace {

// CPU time of the calling thread: what a step costs this rank whatever else the machine runs.
double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_name = "cnn", models_dir = std::string(TAMP_SOURCE_DIR) + "/tests/data/models";
  int threads = 1, warmup = 10, steps = 40, rounds = 3;
  int64_t global_batch = 64;
  size_t bucket_bytes = size_t{4} << 20;
  dist::ReducerOptions reducer_options;
  bool barrier = false;
  CLI::App app{"tamp data-parallel training-step benchmark"};
  app.add_option("--model", model_name)->check(CLI::IsMember({"mlp", "cnn", "transformer"}));
  app.add_option("--models", models_dir);
  app.add_option("--threads", threads)->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup);
  app.add_option("--steps", steps)->check(CLI::PositiveNumber);
  app.add_option("--rounds", rounds)->check(CLI::PositiveNumber);
  app.add_option("--global-batch", global_batch)->check(CLI::PositiveNumber);
  app.add_option("--bucket-bytes", bucket_bytes, "fused allreduce bucket (without --overlap)");
  app.add_option("--overlap", reducer_options.overlap,
                 "start gradient buckets during backward (1) or reduce after it (0)");
  app.add_option("--overlap-bucket-bytes", reducer_options.bucket_bytes);
  app.add_option("--barrier", barrier,
                 "time the wait for the slower rank apart (a barrier before the reduction)");
  CLI11_PARSE(app, argc, argv);

  dist::Context world(argc, argv, {.bucket_bytes = bucket_bytes});
  nn::Collective& collective = world.collective();
  try {
    set_num_threads(threads);
    TAMP_CHECK(global_batch % world.size() == 0, "global batch {} does not split over {} ranks",
               global_batch, world.size());
    const int64_t batch = global_batch / world.size();
    nn::GraphModule model = io::load_onnx(models_dir + "/" + model_name + ".onnx");
    model.train();
    dist::broadcast_parameters(model, collective);
    const nn::Graph& g = model.graph();
    Shape shape{batch};
    for (size_t i = 1; i < g.inputs[0].shape.size(); ++i)
      shape.push_back(g.inputs[0].shape[i].value);

    Generator rng(1 + static_cast<uint64_t>(world.rank()));
    constexpr int kBatches = 8;
    std::vector<Variable> inputs, labels;
    for (int i = 0; i < kBatches; ++i) {
      Tensor x = Tensor::empty(shape);
      for (int64_t j = 0; j < x.numel(); ++j) x.data<float>()[j] = rng.normal();
      Tensor y = Tensor::empty({batch}, DType::kInt64);
      for (int64_t j = 0; j < batch; ++j)
        y.data<int64_t>()[j] = static_cast<int64_t>(rng.below(10));
      inputs.emplace_back(x);
      labels.emplace_back(y);
    }
    auto params = model.named_parameters();
    nn::Sgd optimizer(params, {.lr = 0.01, .momentum = 0.9});
    // The Trainer's reduction: buckets started during backward (--overlap 1) or one fused
    // allreduce after it (--overlap 0).
    dist::GradientReducer reducer(collective, params, reducer_options);
    int64_t step = 0;
    double wait_s = 0, reduce_s = 0, reduce_min_s = INFINITY, reduce_cpu_s = 0;
    auto train_step = [&] {
      Variable loss =
          nn::cross_entropy(model.forward(inputs[step % kBatches]), labels[step % kBatches]);
      reducer.arm();
      loss.backward();
      if (collective.size() > 1) {
        // Timed apart: waiting for the slower rank (optional barrier) and the rest of the
        // reduction (what backward did not hide).
        const auto t0 = std::chrono::steady_clock::now();
        if (barrier) collective.barrier();
        const auto t1 = std::chrono::steady_clock::now();
        const double cpu0 = thread_cpu_seconds();
        reducer.finish();
        reduce_cpu_s += thread_cpu_seconds() - cpu0;
        wait_s += std::chrono::duration<double>(t1 - t0).count();
        const double reduce =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
        reduce_s += reduce;
        reduce_min_s = std::min(reduce_min_s, reduce);
      }
      optimizer.step();
      optimizer.zero_grad();
      ++step;
      return loss.value().item();
    };
    for (int i = 0; i < warmup; ++i) train_step();
    double load = -1;
    for (int r = 0; r < rounds; ++r) {
      collective.barrier();
      world.reset_stats();
      const int64_t early0 = reducer.started_early();
      wait_s = reduce_s = reduce_cpu_s = 0;
      reduce_min_s = INFINITY;
      const auto t0 = std::chrono::steady_clock::now();
      const double cpu0 = thread_cpu_seconds();
      double loss = 0;
      double step_min_s =
          INFINITY;  // the fastest step: the closest a busy machine gets to an idle one
      for (int i = 0; i < steps; ++i) {
        const auto s0 = std::chrono::steady_clock::now();
        loss = train_step();
        step_min_s =
            std::min(step_min_s,
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - s0).count());
      }
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double cpu = thread_cpu_seconds() - cpu0;
      const dist::CollectiveStats s = world.stats();
      std::ifstream("/proc/loadavg") >> load;
      if (world.is_root()) {
        fmt::print(
            "{{\"model\":\"{}\",\"ranks\":{},\"threads\":{},\"batch_per_rank\":{},\"round\":{},"
            "\"steps\":{},"
            "\"seconds\":{:.4f},\"samples_per_s\":{:.1f},\"step_ms\":{:.3f},\"wait_ms_per_step\":{:"
            ".3f},"
            "\"allreduce_ms_per_step\":{:.3f},\"allreduce_min_ms\":{:.3f},\"allreduce_calls_per_"
            "step\":{:.1f},\"allreduce_kib_per_step\":{:.1f},"
            "\"overlap\":{},\"buckets\":{},\"started_in_backward_per_step\":{:.2f},\"step_min_ms\":"
            "{:.3f},\"best_step_samples_per_s\":{:.1f},\"cpu_ms_per_step\":{:.3f},\"finish_cpu_ms_"
            "per_step\":{:.3f},\"loadavg_1min\":{:.2f},\"loss\":{:.4f}}}\n",
            model_name, world.size(), threads, batch, r, steps, seconds,
            steps * global_batch / seconds, 1e3 * seconds / steps, 1e3 * wait_s / steps,
            1e3 * reduce_s / steps, world.size() > 1 ? 1e3 * reduce_min_s : 0.0,
            world.size() > 1 ? double(s.calls - (barrier ? steps : 0)) / steps : 0.0,
            double(s.bytes) / 1024.0 / steps, reducer_options.overlap ? 1 : 0, reducer.buckets(),
            double(reducer.started_early() - early0) / steps, 1e3 * step_min_s,
            global_batch / step_min_s, 1e3 * cpu / steps, 1e3 * reduce_cpu_s / steps, load, loss);
        std::fflush(stdout);
      }
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_dist (rank {}): {}\n", world.rank(), e.what());
    world.abort(1);
  }
  return 0;
}
