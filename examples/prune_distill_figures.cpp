// Produces the README's pruning and distillation figures on Fashion-MNIST: the CNN pruned to
// 2:4 and to 90 % unstructured with each criterion against its dense fine-tuned baseline, and
// the half-width student trained alone and with the wide teacher.
//
//   prune_distill_figures [--what pruning|distillation|all] [--threads 2] [--out figures.md]
//                         [--base-epochs 4] [--finetune-epochs 3] [--distill-epochs 4]
//                         [--teacher-epochs 4] [--steps N] [--seed 1] [--criteria c1 c2 ...]
//                         [--patterns 2:4 unstructured] [--channel-sparsity 0.5]
// --channel-sparsity adds a row pruning whole channels (magnitude) and the parameters that
// removing them from the graph (shrink_pruned) saves; 0 leaves it out. --ort-check also runs
// the shrunk model in ONNX Runtime on the test set against tamp's masked model.
#include "compression_experiments.h"

#include <tamp/autograd/threads.h>
#include <tamp/compression/pruning/shrink.h>
#include <tamp/io/idx.h>
#include <tamp/io/onnx_export.h>
#include <tamp/io/tensor_proto.h>
#include <tamp/nn/graph_module.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <unistd.h>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

using namespace tamp;

namespace {

struct OrtCheck {
  int64_t examples = 0, argmax_differ = 0;
  double max_abs = 0;
};

// The channel-pruned model with its channels removed, run in ONNX Runtime (node and
// tests/ort/setup.sh) on the whole test set, against tamp's masked model on the same images.
OrtCheck shrunk_in_ort_vs_masked(const nn::Graph& masked, const nn::Dataset& test,
                                 const std::string& source) {
  const auto dir =
      std::filesystem::temp_directory_path() / fmt::format("tamp_figures_{}", ::getpid());
  std::filesystem::create_directories(dir / "out");
  const nn::Graph shrunk = compression::pruning::shrink_pruned(masked);
  io::save_onnx_graph(shrunk, (dir / "shrunk.onnx").string());
  std::vector<int64_t> rows(static_cast<size_t>(test.size()));
  for (int64_t i = 0; i < test.size(); ++i) rows[i] = i;
  const Tensor x = test.get_batch(rows).x.reshape({test.size(), 1, 28, 28});
  io::write_tensor_file((dir / "x.pb").string(), x, "input");
  const std::string cmd =
      fmt::format("node {}/tests/ort/run_ort.js {} --input {}={} --output-dir {} 2>&1", source,
                  (dir / "shrunk.onnx").string(), shrunk.inputs[0].name, (dir / "x.pb").string(),
                  (dir / "out").string());
  std::string log;
  std::array<char, 4096> buf{};
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw Error("cannot run node", ErrorKind::kIo);
  while (fgets(buf.data(), buf.size(), p)) log += buf.data();
  if (pclose(p) != 0) throw Error(fmt::format("`{}` failed: {}", cmd, log), ErrorKind::kIo);
  const Tensor ort =
      io::read_tensor_file((dir / "out" / (shrunk.outputs[0].name + ".pb")).string());
  std::filesystem::remove_all(dir);

  nn::GraphModule m(masked);
  m.eval();
  NoGradGuard no_grad;
  OrtCheck c;
  const int64_t classes = ort.numel() / test.size();
  for (int64_t b0 = 0; b0 < test.size(); b0 += 500) {
    const int64_t n = std::min<int64_t>(500, test.size() - b0);
    const std::vector<int64_t> part(rows.begin() + b0, rows.begin() + b0 + n);
    const Tensor xb = test.get_batch(part).x.reshape({n, 1, 28, 28});
    const Tensor t =
        m.forward({{masked.inputs[0].name, Variable(xb)}}).at(masked.outputs[0].name).value();
    for (int64_t i = 0; i < n; ++i) {
      int64_t ia = 0, ib = 0;
      for (int64_t k = 0; k < classes; ++k) {
        const double a = t.at(i * classes + k), b = ort.at((b0 + i) * classes + k);
        c.max_abs = std::max(c.max_abs, std::fabs(a - b));
        if (a > t.at(i * classes + ia)) ia = k;
        if (b > ort.at((b0 + i) * classes + ib)) ib = k;
      }
      c.argmax_differ += ia != ib;
    }
    c.examples += n;
  }
  return c;
}

// "global=1,end=0.5,freq=10,curve=cubic": keys left out keep `base`'s values.
examples::UnstructuredRecipe parse_variant(const std::string& text,
                                           examples::UnstructuredRecipe r) {
  std::string rest = text;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string item = rest.substr(0, comma);
    rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
    const size_t eq = item.find('=');
    if (eq == std::string::npos)
      throw Error(fmt::format("--variants: '{}' is not key=value", item), ErrorKind::kInvalidInput);
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    auto number = [&](auto convert) {
      try {
        size_t used = 0;
        const auto v = convert(value, &used);
        if (used == value.size()) return v;
      } catch (const std::exception&) {}
      throw Error(fmt::format("--variants: '{}' needs a number, got '{}'", key, value),
                  ErrorKind::kInvalidInput);
    };
    if (key == "global") {
      r.global = value == "1" || value == "true";
    } else if (key == "end") {
      r.end = number([](const std::string& t, size_t* n) { return std::stod(t, n); });
      if (!(r.end > 0 && r.end <= 1))
        throw Error("--variants: end must be in (0, 1]", ErrorKind::kInvalidInput);
    } else if (key == "freq") {
      r.frequency = number([](const std::string& t, size_t* n) { return std::stoll(t, n); });
      if (r.frequency < 1)
        throw Error("--variants: freq must be at least 1", ErrorKind::kInvalidInput);
    } else if (key == "curve") {
      r.curve = compression::pruning::parse_curve(value);
    } else {
      throw Error(fmt::format("--variants: unknown key '{}' (global, end, freq, curve)", key),
                  ErrorKind::kInvalidInput);
    }
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Fashion-MNIST figures for pruning and distillation"};
  std::string what = "all", out, source = TAMP_SOURCE_DIR,
              data_dir = "/usr/share/datasets/fashion-mnist";
  int threads = 2;
  examples::ExperimentOptions o;
  std::vector<std::string> criteria{"magnitude", "gradient", "snip", "snip_momentum", "movement"};
  app.add_option("--what", what, "pruning, distillation or all")
      ->check(CLI::IsMember({"pruning", "distillation", "all"}));
  app.add_option("--threads", threads, "OpenMP threads")->check(CLI::PositiveNumber);
  app.add_option("--out", out, "also write the tables (Markdown) to this file");
  app.add_option("--base-epochs", o.base_epochs, "dense baseline epochs")
      ->check(CLI::PositiveNumber);
  app.add_option("--finetune-epochs", o.finetune_epochs, "epochs of every pruning run")
      ->check(CLI::Range(2, 100));
  app.add_option("--distill-epochs", o.distill_epochs, "student epochs")
      ->check(CLI::PositiveNumber);
  app.add_option("--teacher-epochs", o.teacher_epochs, "teacher epochs")
      ->check(CLI::PositiveNumber);
  app.add_option("--steps", o.max_steps_per_epoch, "cap on steps per epoch (quick runs)");
  app.add_option("--seed", o.seed, "data order");
  app.add_option("--criteria", criteria, "pruning criteria to run");
  std::vector<std::string> patterns{"2:4", "unstructured"};
  double channel_sparsity = 0.5;
  app.add_option("--patterns", patterns, "2:4 and/or unstructured (90 %)")
      ->check(CLI::IsMember({"2:4", "unstructured"}));
  bool ort_check = false;
  app.add_flag("--ort-check", ort_check,
               "run the shrunk channel-pruned model in ONNX Runtime on the test set");
  bool global = o.unstructured.global;
  std::string curve = "cubic";
  app.add_flag("--global,!--layer-wise", global,
               "90 % unstructured: one threshold over all pruned weights");
  app.add_option("--prune-end", o.unstructured.end,
                 "90 % unstructured: fraction of the run that reaches the target")
      ->check(CLI::Range(0.01, 1.0));
  app.add_option("--prune-frequency", o.unstructured.frequency,
                 "90 % unstructured: steps between mask updates")
      ->check(CLI::PositiveNumber);
  app.add_option("--prune-curve", curve, "90 % unstructured: linear, cubic, exponential or cosine");
  std::vector<std::string> variants;
  app.add_option("--variants", variants,
                 "several 90 % unstructured recipes against one baseline, each like "
                 "'global=1,end=0.5,freq=10,curve=cubic' (keys left out keep the flags' values)");
  app.add_option("--sd-head-grid", o.sd_head_grid,
                 "self-distillation heads: pooling grid (1: global pool)")
      ->check(CLI::Range(1, 64));
  app.add_option("--sd-head-hidden", o.sd_head_hidden,
                 "self-distillation heads: hidden units (0: linear head)")
      ->check(CLI::Range(0, 65536));
  app.add_option("--channel-sparsity", channel_sparsity, "channel pruning row (0: none)")
      ->check(CLI::Range(0.0, 0.95));
  app.add_option("--data", data_dir, "Fashion-MNIST folder");
  app.add_option("--source", source, "repository root (for the test models)");
  CLI11_PARSE(app, argc, argv);

  try {
    set_num_threads(threads);
    o.unstructured.global = global;
    o.unstructured.curve = compression::pruning::parse_curve(curve);
    std::vector<examples::UnstructuredRecipe> recipes;
    for (const auto& v : variants) recipes.push_back(parse_variant(v, o.unstructured));
    if (recipes.empty()) recipes.push_back(o.unstructured);
    o.log = [](const std::string& line) {
      fmt::print("  {}\n", line);
      std::fflush(stdout);
    };
    const nn::TrainTest data = io::fashion_mnist(data_dir);
    std::string md;
    const auto start = std::chrono::steady_clock::now();
    if (what != "distillation") {
      const examples::Baseline base =
          examples::train_baseline(examples::model_file(source, "cnn"), data, o);
      md += fmt::format(
          "CNN (cnn.onnx) trained {} epochs: {:.2f} %; dense, {} more epochs: **{:.2f} %** "
          "(the reference below). Each pruned run: {} epochs from the {}-epoch model, SGD "
          "momentum 0.9, lr {} with cosine decay, batch {}, seed {}.\n\n",
          o.base_epochs, 100 * base.top1, o.finetune_epochs, 100 * base.finetuned_top1,
          o.finetune_epochs, o.base_epochs, o.lr, o.batch_size, o.seed);
      md +=
          "| pattern | criterion | schedule | sparsity (pruned weights / all; per weight) | "
          "checker | top-1 | vs dense |\n";
      md += "|---|---|---|---|---|---|---|\n";
      for (const auto& pattern : patterns) {
        const double sparsity = pattern == "unstructured" ? 0.9 : -1;
        for (const auto& recipe :
             pattern == "unstructured" ? recipes : std::vector{o.unstructured}) {
          examples::ExperimentOptions ro = o;
          ro.unstructured = recipe;
          for (const auto& c : criteria) {
            const auto row = examples::run_pruning(
                base, data, pattern, compression::pruning::parse_criterion(c), ro, sparsity);
            std::string layers;
            for (const auto& [w, sp] : row.layers)
              layers += fmt::format("{}{} {:.1f} %", layers.empty() ? "" : ", ", w, 100 * sp);
            md += fmt::format(
                "| {} | {} | {} | {:.1f} % / {:.1f} % ({}) | {} | {:.2f} % | {:+.2f} pt |\n",
                row.pattern, row.criterion, row.schedule, 100 * row.sparsity,
                100 * row.model_sparsity, layers, row.pattern_valid ? "valid" : "INVALID",
                100 * row.top1, 100 * (row.top1 - base.finetuned_top1));
          }
        }
      }
      std::string shrink_line;
      if (channel_sparsity > 0) {
        const auto row =
            examples::run_pruning(base, data, "channel",
                                  compression::pruning::Criterion::kMagnitude, o, channel_sparsity);
        md += fmt::format(
            "| channel | magnitude | {} | {:.1f} % / {:.1f} % | {} | {:.2f} % | {:+.2f} pt |\n",
            row.schedule, 100 * row.sparsity, 100 * row.model_sparsity,
            row.pattern_valid ? "valid" : "INVALID", 100 * row.top1,
            100 * (row.top1 - base.finetuned_top1));
        std::string layers;
        for (const auto& l : row.shrink.layers) layers += (layers.empty() ? "" : ", ") + l;
        shrink_line = fmt::format(
            "\nChannel row: removing the pruned channels (shrink_pruned) takes the model from {} "
            "to {} parameters ({:.1f} %; {}).\n",
            row.shrink.parameters_before, row.shrink.parameters_after,
            100.0 * static_cast<double>(row.shrink.parameters_after) /
                static_cast<double>(std::max<int64_t>(1, row.shrink.parameters_before)),
            layers);
        if (ort_check) {
          const OrtCheck c = shrunk_in_ort_vs_masked(row.model, *data.test, source);
          shrink_line += fmt::format(
              "The shrunk model in ONNX Runtime against tamp's masked model on the {} test "
              "images: argmax differs on {}, largest logit difference {:.2e}.\n",
              c.examples, c.argmax_differ, c.max_abs);
        }
      }
      md += shrink_line + "\n";
    }
    if (what != "pruning") {
      double teacher = 0;
      const auto rows = examples::run_distillation(source, data, o, &teacher);
      md += fmt::format(
          "Teacher cnn_wide.onnx (64/128 channels, fc 192) trained {} epochs: {:.2f} %. Student "
          "cnn_half.onnx (16/32, fc 64), {} epochs each, same seed and data order:\n\n",
          o.teacher_epochs, 100 * teacher, o.distill_epochs);
      md +=
          "| student | top-1 | vs alone | loss terms (epoch mean), first -> last epoch | seconds "
          "|\n|---|---|---|---|---|\n";
      const double alone = rows.front().top1;
      for (const auto& r : rows) {
        // Each loss term, first -> last epoch.
        std::string losses;
        if (!r.history.empty()) {
          for (const auto& [term, first] : r.history.front()) {
            const auto& last = r.history.back();
            losses += fmt::format("{}{} {:.4f} -> {:.4f}", losses.empty() ? "" : "; ", term, first,
                                  last.count(term) ? last.at(term) : 0.0);
          }
        }
        if (losses.empty()) losses = "-";
        md += fmt::format("| {} | {:.2f} % | {:+.2f} pt | {} | {:.0f} |\n", r.setting, 100 * r.top1,
                          100 * (r.top1 - alone), losses, r.seconds);
      }
    }
    const double minutes =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / 60;
    md += fmt::format("\n({:.1f} minutes, {} threads.)\n", minutes, threads);
    fmt::print("\n{}", md);
    if (!out.empty()) std::ofstream(out) << md;
  } catch (const Error& e) {
    fmt::print(stderr, "prune_distill_figures: {}\n", e.what());
    return 1;
  }
  return 0;
}
