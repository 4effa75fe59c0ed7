// Produces the README's pruning and distillation figures on Fashion-MNIST: the CNN pruned to
// 2:4 and to 90 % unstructured with each criterion against its dense fine-tuned baseline, and
// the half-width student trained alone and with the wide teacher.
//
//   prune_distill_figures [--what pruning|distillation|all] [--threads 2] [--out figures.md]
//                         [--base-epochs 4] [--finetune-epochs 3] [--distill-epochs 4]
//                         [--teacher-epochs 4] [--steps N] [--seed 1]
#include "compression_experiments.h"

#include <tamp/autograd/threads.h>
#include <tamp/io/idx.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <fstream>

using namespace tamp;

int main(int argc, char** argv) {
  CLI::App app{"Fashion-MNIST figures for pruning and distillation"};
  std::string what = "all", out, source = TAMP_SOURCE_DIR, data_dir = "/usr/share/datasets/fashion-mnist";
  int threads = 2;
  examples::ExperimentOptions o;
  std::vector<std::string> criteria{"magnitude", "gradient", "snip", "snip_momentum", "movement"};
  app.add_option("--what", what, "pruning, distillation or all")->check(CLI::IsMember({"pruning", "distillation", "all"}));
  app.add_option("--threads", threads, "OpenMP threads")->check(CLI::PositiveNumber);
  app.add_option("--out", out, "also write the tables (Markdown) to this file");
  app.add_option("--base-epochs", o.base_epochs, "dense baseline epochs")->check(CLI::PositiveNumber);
  app.add_option("--finetune-epochs", o.finetune_epochs, "epochs of every pruning run")->check(CLI::Range(2, 100));
  app.add_option("--distill-epochs", o.distill_epochs, "student epochs")->check(CLI::PositiveNumber);
  app.add_option("--teacher-epochs", o.teacher_epochs, "teacher epochs")->check(CLI::PositiveNumber);
  app.add_option("--steps", o.max_steps_per_epoch, "cap on steps per epoch (quick runs)");
  app.add_option("--seed", o.seed, "data order");
  app.add_option("--criteria", criteria, "pruning criteria to run");
  app.add_option("--data", data_dir, "Fashion-MNIST folder");
  app.add_option("--source", source, "repository root (for the test models)");
  CLI11_PARSE(app, argc, argv);

  try {
    set_num_threads(threads);
    o.log = [](const std::string& line) {
      fmt::print("  {}\n", line);
      std::fflush(stdout);
    };
    const nn::TrainTest data = io::fashion_mnist(data_dir);
    std::string md;
    const auto start = std::chrono::steady_clock::now();
    if (what != "distillation") {
      const examples::Baseline base = examples::train_baseline(examples::model_file(source, "cnn"), data, o);
      md += fmt::format("CNN (cnn.onnx) trained {} epochs: {:.2f} %; dense, {} more epochs: **{:.2f} %** "
                        "(the reference below). Each pruned run: {} epochs from the {}-epoch model, SGD "
                        "momentum 0.9, lr {} with cosine decay, batch {}, seed {}.\n\n",
                        o.base_epochs, 100 * base.top1, o.finetune_epochs, 100 * base.finetuned_top1,
                        o.finetune_epochs, o.base_epochs, o.lr, o.batch_size, o.seed);
      md += "| pattern | criterion | schedule | sparsity (pruned weights / all) | checker | top-1 | vs dense |\n";
      md += "|---|---|---|---|---|---|---|\n";
      for (const auto& [pattern, sparsity] : std::vector<std::pair<std::string, double>>{{"2:4", -1}, {"unstructured", 0.9}}) {
        for (const auto& c : criteria) {
          const auto row = examples::run_pruning(base, data, pattern, compression::pruning::parse_criterion(c), o, sparsity);
          md += fmt::format("| {} | {} | {} | {:.1f} % / {:.1f} % | {} | {:.2f} % | {:+.2f} pt |\n", row.pattern,
                            row.criterion, row.schedule, 100 * row.sparsity, 100 * row.model_sparsity,
                            row.pattern_valid ? "valid" : "INVALID", 100 * row.top1,
                            100 * (row.top1 - base.finetuned_top1));
        }
      }
      md += "\n";
    }
    if (what != "pruning") {
      double teacher = 0;
      const auto rows = examples::run_distillation(source, data, o, &teacher);
      md += fmt::format("Teacher cnn_wide.onnx (64/128 channels, fc 192) trained {} epochs: {:.2f} %. Student "
                        "cnn_half.onnx (16/32, fc 64), {} epochs each, same seed and data order:\n\n",
                        o.teacher_epochs, 100 * teacher, o.distill_epochs);
      md += "| student | top-1 | vs alone | extra loss, first -> last epoch | seconds |\n|---|---|---|---|---|\n";
      const double alone = rows.front().top1;
      for (const auto& r : rows) {
        const std::string losses = r.epoch_losses.empty()
                                       ? "-"
                                       : fmt::format("{:.4f} -> {:.4f}", r.epoch_losses.front(), r.epoch_losses.back());
        md += fmt::format("| {} | {:.2f} % | {:+.2f} pt | {} | {:.0f} |\n", r.setting, 100 * r.top1,
                          100 * (r.top1 - alone), losses, r.seconds);
      }
    }
    const double minutes = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / 60;
    md += fmt::format("\n({:.1f} minutes, {} threads.)\n", minutes, threads);
    fmt::print("\n{}", md);
    if (!out.empty()) std::ofstream(out) << md;
  } catch (const Error& e) {
    fmt::print(stderr, "prune_distill_figures: {}\n", e.what());
    return 1;
  }
  return 0;
}
