// What quantization-aware training costs per step, and what the int8 export buys in ONNX
// Runtime, measured side by side in one run (rounds alternate between the variants, so a
// busy machine slows all of them alike; ratios of medians are reported):
//   QAT / fp32 step     cnn.onnx and cnn_bn_train.onnx trained with and without the
//                       QuantizationAwareTraining component (BN folded, FakeQuantize on 4
//                       weights and the activations, moving-average observers every step);
//                       for cnn_bn_train also QAT with BatchNorm live (before its freeze step)
//   ORT latency         the CNN in fp32 and after static PTQ as QDQ and QOperator int8, batch
//                       1 and 64, one intra-op thread (tests/ort/run_ort.js --bench)
//
//   bench_quantization [--threads 1] [--steps 20] [--rounds 9] [--batch 64] [--ort-runs 300]
//                      [--no-ort] [--source DIR]
#include <tamp/autograd/apply.h>
#include <tamp/autograd/threads.h>
#include <tamp/compression/quantization/lowering/lower.h>
#include <tamp/compression/quantization/ptq/static_quantization.h>
#include <tamp/compression/quantization/qat/qat.h>
#include <tamp/io/onnx_export.h>
#include <tamp/io/onnx_import.h>
#include <tamp/io/tensor_proto.h>
#include <tamp/nn/init.h>
#include <tamp/nn/loss.h>
#include <tamp/nn/sgd.h>
#include <tamp/scheduler/trainer.h>

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

namespace {

constexpr double kLr = 0.005;  // SGD with momentum 0.9: QAT of a trained model

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Cost of quantization-aware training per step; ORT latency of the int8 CNN against fp32"};
  Options o{.threads = 1, .rounds = 9, .source = TAMP_SOURCE_DIR};
  add_options(app, o);
  CLI11_PARSE(app, argc, argv);
  try {
    set_num_threads(o.threads);
    const std::string models = o.source + "/tests/data/models/";
    Generator rng(1);
    const auto [x, y] = image_batch(o.batch, rng);

    fmt::print("load before: {}\n", uptime_text());
    for (const char* name : {"cnn", "cnn_bn_train"}) {
      fmt::print(
          "QAT step vs fp32 step ({}.onnx, batch {}, {} thread(s), SGD, median of {} rounds of {} "
          "steps):\n",
          name, o.batch, o.threads, o.rounds, o.steps);
      std::vector<Variant> vs;
      vs.push_back(make_variant("fp32", models + name + ".onnx", {}, kLr));
      vs.push_back(make_variant("QAT (int8 per-channel W, uint8 A)", models + name + ".onnx",
                                {std::make_shared<QuantizationAwareTraining>()}, kLr));
      if (std::string(name) == "cnn_bn_train") {
        // Before the freeze-BN step: BN trains on batch statistics behind the folded weights.
        QuantizerOptions live;
        live.freeze_bn_epoch = -1;
        vs.push_back(make_variant("QAT, BatchNorm live (before freeze_bn)", models + name + ".onnx",
                                  {std::make_shared<QuantizationAwareTraining>(live)}, kLr));
      }
      compare(vs, x, y, o.steps, o.rounds);
    }
    fmt::print("load after: {}\n", uptime_text());

    if (!o.no_ort) {
      fmt::print(
          "\nONNX Runtime, 1 thread, median of {} runs (3 alternating rounds, median): cnn.onnx "
          "fp32 vs "
          "static int8 (minmax, 8 batches):\n",
          o.ort_runs);
      const auto dir =
          std::filesystem::temp_directory_path() / fmt::format("tamp_qbench_{}", ::getpid());
      std::filesystem::create_directories(dir);
      nn::GraphModule m(io::load_onnx_graph(models + "cnn.onnx"));
      const nn::Graph fp32 = m.export_graph();
      auto calib = std::make_shared<nn::TensorDataset>(
          nn::init::uniform({512, 1, 28, 28}, 0, 1, rng), Tensor({512}, DType::kInt64));
      Trainer(m, {std::make_shared<StaticQuantization>()},
              {.train = calib, .calibration_batches = 8})
          .run();
      io::save_onnx_graph(fp32, (dir / "fp32.onnx").string());
      io::save_onnx_graph(lower_quantized(m.export_graph(), QuantFormat::kQdq),
                          (dir / "qdq.onnx").string());
      io::save_onnx_graph(lower_quantized(m.export_graph(), QuantFormat::kQOperator),
                          (dir / "qop.onnx").string());
      for (int64_t b : {int64_t{1}, o.batch}) {
        const std::string in = (dir / fmt::format("x{}.pb", b)).string();
        io::write_tensor_file(in, nn::init::uniform({b, 1, 28, 28}, 0, 1, rng), "input");
        std::map<std::string, std::vector<double>> ms;
        for (int r = 0; r < 3; ++r) {
          for (const char* f : {"fp32", "qdq", "qop"}) {
            ms[f].push_back(ort_median_ms(o.source, (dir / (std::string(f) + ".onnx")).string(), in,
                                          o.ort_runs));
          }
        }
        const double base = median(ms["fp32"]);
        fmt::print(
            "  batch {:>3}: fp32 {:.4f} ms, int8 QDQ {:.4f} ms ({:.2f}x), int8 QOperator {:.4f} ms "
            "({:.2f}x)\n",
            b, base, median(ms["qdq"]), median(ms["qdq"]) / base, median(ms["qop"]),
            median(ms["qop"]) / base);
      }
      fmt::print("  file sizes: fp32 {} B, QDQ {} B, QOperator {} B\n",
                 std::filesystem::file_size(dir / "fp32.onnx"),
                 std::filesystem::file_size(dir / "qdq.onnx"),
                 std::filesystem::file_size(dir / "qop.onnx"));
      std::filesystem::remove_all(dir);
      fmt::print("load after ORT: {}\n", uptime_text());
    }
  } catch (const Error& e) {
    fmt::print(stderr, "bench_quantization: {}\n", e.what());
    return 1;
  }
  return 0;
}
