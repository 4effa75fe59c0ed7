// What pruning and distillation cost in a training step, and what channel pruning buys at
// inference, measured side by side in one run (rounds alternate between the variants, so a
// busy machine slows all of them alike; ratios of medians are reported):
//   masked / dense       the CNN (cnn.onnx) with 90 % unstructured and with 2:4 masks: the
//                        gradient hooks and the re-apply after each SGD step
//   KD / student alone   cnn_half.onnx trained with cnn_wide.onnx as teacher (logit KD; and
//                        with two intermediate layers through projections)
//   ORT latency          the CNN before and after 50 % channel pruning shrinks it, in ONNX
//                        Runtime (tests/ort/run_ort.js --bench), batch 1 and 64
//
//   bench_compression [--threads 2] [--steps 20] [--rounds 7] [--batch 64] [--ort-runs 300]
//                     [--no-ort] [--source DIR]
#include <tamp/autograd/apply.h>
#include <tamp/autograd/threads.h>
#include <tamp/compression/distillation/distillation.h>
#include <tamp/compression/pruning/pruning.h>
#include <tamp/compression/pruning/shrink.h>
#include <tamp/io/onnx_export.h>
#include <tamp/io/onnx_import.h>
#include <tamp/io/tensor_proto.h>
#include <tamp/nn/init.h>
#include <tamp/nn/loss.h>
#include <tamp/nn/sgd.h>

#include "component_bench.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <unistd.h>
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>

using namespace tamp;
using namespace tamp::compression;
using namespace tamp::bench;

int main(int argc, char** argv) {
  CLI::App app{
      "Cost of pruning masks and distillation per training step; ORT latency of a channel-pruned "
      "CNN"};
  Options o{.threads = 2, .rounds = 7, .source = TAMP_SOURCE_DIR};
  add_options(app, o);
  CLI11_PARSE(app, argc, argv);
  try {
    set_num_threads(o.threads);
    const std::string models = o.source + "/tests/data/models/";
    Generator rng(1);
    const auto [x, y] = image_batch(o.batch, rng);

    fmt::print("pruning masks in a training step (cnn.onnx, batch {}, {} threads):\n", o.batch,
               o.threads);
    std::vector<Variant> prune;
    prune.push_back(make_variant("dense", models + "cnn.onnx", {}));
    prune.push_back(make_variant("unstructured 90 % (magnitude, masks + hooks)",
                                 models + "cnn.onnx",
                                 {std::make_shared<Pruning>(PruningOptions{
                                     .pattern = "unstructured", .target_sparsity = 0.9})}));
    prune.push_back(make_variant("2:4 (magnitude, masks + hooks)", models + "cnn.onnx",
                                 {std::make_shared<Pruning>(PruningOptions{.pattern = "2:4"})}));
    prune.push_back(make_variant(
        "2:4 (snip_momentum: scores every step)", models + "cnn.onnx",
        {std::make_shared<Pruning>(PruningOptions{
            .pattern = "2:4",
            .criterion = pruning::Criterion::kSnipMomentum,
            .schedule = pruning::Schedule::gradual(pruning::Curve::kCubic, 0, 100000, 100)})}));
    compare(prune, x, y, o.steps, o.rounds);

    fmt::print("\ndistillation (student cnn_half.onnx, teacher cnn_wide.onnx, batch {}):\n",
               o.batch);
    auto teacher = std::make_shared<nn::GraphModule>(io::load_onnx_graph(models + "cnn_wide.onnx"));
    std::vector<Variant> kd;
    kd.push_back(make_variant("student alone", models + "cnn_half.onnx", {}));
    kd.push_back(make_variant(
        "logit KD", models + "cnn_half.onnx",
        {std::make_shared<Distillation>(teacher, DistillationOptions{.temperature = 4})}));
    kd.push_back(make_variant(
        "logit KD + 2 projected layers", models + "cnn_half.onnx",
        {std::make_shared<Distillation>(
            teacher,
            DistillationOptions{
                .temperature = 4,
                .layers = {{.student = "/MaxPool_1_output_0", .teacher = "/MaxPool_1_output_0"},
                           {.student = "/Relu_2_output_0", .teacher = "/Relu_2_output_0"}}})}));
    compare(kd, x, y, o.steps, o.rounds);

    if (!o.no_ort) {
      fmt::print(
          "\nONNX Runtime, 1 thread, median of {} runs: cnn.onnx before / after 50 % channel "
          "pruning:\n",
          o.ort_runs);
      const auto dir =
          std::filesystem::temp_directory_path() / fmt::format("tamp_bench_{}", ::getpid());
      std::filesystem::create_directories(dir);
      nn::GraphModule m(io::load_onnx_graph(models + "cnn.onnx"));
      const nn::Graph dense = m.export_graph();
      prune_once(m, {.pattern = "channel", .target_sparsity = 0.5});
      pruning::ShrinkReport report;
      const nn::Graph small = pruning::shrink_pruned(m.export_graph(), &report);
      io::save_onnx_graph(dense, (dir / "dense.onnx").string());
      io::save_onnx_graph(small, (dir / "shrunk.onnx").string());
      fmt::print("  parameters {} -> {} ({:.1f} %)\n", report.parameters_before,
                 report.parameters_after,
                 100.0 * static_cast<double>(report.parameters_after) /
                     static_cast<double>(report.parameters_before));
      for (int64_t b : {int64_t{1}, o.batch}) {
        const std::string in = (dir / fmt::format("x{}.pb", b)).string();
        io::write_tensor_file(in, nn::init::uniform({b, 1, 28, 28}, 0, 1, rng), "input");
        std::vector<double> d, s;
        for (int r = 0; r < 3; ++r) {  // alternate, as the machine's load drifts
          d.push_back(ort_median_ms(o.source, (dir / "dense.onnx").string(), in, o.ort_runs));
          s.push_back(ort_median_ms(o.source, (dir / "shrunk.onnx").string(), in, o.ort_runs));
        }
        fmt::print("  batch {:>3}: dense {:.4f} ms, shrunk {:.4f} ms, ratio {:.3f}\n", b, median(d),
                   median(s), median(s) / median(d));
      }
      std::filesystem::remove_all(dir);
    }
  } catch (const Error& e) {
    fmt::print(stderr, "bench_compression: {}\n", e.what());
    return 1;
  }
  return 0;
}
