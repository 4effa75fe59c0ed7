// Shared by bench_compression and bench_quantization: one training step with compression
// components as the Trainer runs it (scheduler/trainer.cpp), variants timed in alternating
// rounds, medians, ONNX Runtime latency through tests/ort/run_ort.js, and the machine's load.
#pragma once

#include <tamp/autograd/apply.h>
#include <tamp/compression/component.h>
#include <tamp/io/onnx_import.h>
#include <tamp/nn/loss.h>
#include <tamp/nn/sgd.h>

#include <tamp/autograd/random.h>
#include <tamp/nn/init.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tamp::bench {

struct Variant {
  std::string name;
  std::shared_ptr<nn::GraphModule> model;
  std::vector<std::shared_ptr<compression::Component>> components;
  std::unique_ptr<nn::Sgd> optimizer;
  int64_t step = 0;
  std::vector<double> ms_per_step;  // one entry per round
};

// One step: the model's logits plus the values the components ask for (asked at every step,
// as the Trainer does: observers follow them), the task loss scaled by the components, their
// extra losses, backward, the component hooks and an SGD step.
inline void train_step(Variant& v, const Tensor& x, const Tensor& y) {
  const compression::StepInfo at{0, v.step, 1000, 1000};
  for (auto& c : v.components) c->on_step_begin(at);
  std::vector<std::string> wanted{"logits"};
  for (auto& c : v.components)
    for (auto& n : c->extra_outputs()) wanted.push_back(n);
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  std::map<std::string, Variable> inputs{{"input", Variable(x)}};
  Variable labels(y);
  auto values = v.model->forward(inputs, wanted);
  Variable loss = nn::cross_entropy(values.at("logits"), labels);
  double w = 1;
  for (auto& c : v.components) w *= c->task_loss_weight();
  if (w != 1) loss = apply1("Mul", {loss, Variable(Tensor::scalar(w, loss.dtype()))});
  for (auto& c : v.components) {
    Variable extra = c->extra_loss({inputs, labels, values}, at);
    if (extra.defined()) loss = apply1("Add", {loss, extra});
  }
  loss.backward();
  for (auto& c : v.components) c->on_after_backward(at);
  v.optimizer->step();
  v.optimizer->zero_grad();
  for (auto& c : v.components) c->on_after_step(at);
  ++v.step;
}

inline Variant make_variant(const std::string& name, const std::string& model_path,
                            std::vector<std::shared_ptr<compression::Component>> components,
                            double lr = 0.01) {
  Variant v;
  v.name = name;
  v.model = std::make_shared<nn::GraphModule>(io::load_onnx_graph(model_path));
  v.model->train();
  v.components = std::move(components);
  for (auto& c : v.components) {
    c->attach(*v.model, nn::local_collective());
    c->on_stage_begin({0, 0, 1000, 1000});
  }
  auto params = v.model->named_parameters();
  for (auto& c : v.components)
    for (auto& p : c->trainable_parameters()) params.push_back(p);
  v.optimizer = std::make_unique<nn::Sgd>(params, nn::SgdOptions{.lr = lr, .momentum = 0.9});
  return v;
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Three warm-up steps per variant (one-shot masks, QAT's first observations), then rounds of
// `steps` steps per variant, alternating; prints the medians and the ratios to the first.
inline void compare(std::vector<Variant>& vs, const Tensor& x, const Tensor& y, int steps,
                    int rounds) {
  for (auto& v : vs)
    for (int i = 0; i < 3; ++i) train_step(v, x, y);
  for (int r = 0; r < rounds; ++r) {
    for (auto& v : vs) {
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < steps; ++i) train_step(v, x, y);
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      v.ms_per_step.push_back(ms / steps);
    }
  }
  const double base = median(vs.front().ms_per_step);
  for (const auto& v : vs) {
    const double m = median(v.ms_per_step);
    fmt::print("  {:<44} {:8.3f} ms/step   ratio {:.3f}\n", v.name, m, m / base);
  }
}

// A command's standard output; throws when it cannot start or exits non-zero.
inline std::string command_output(const std::string& cmd) {
  std::array<char, 4096> buf{};
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw Error(fmt::format("cannot run `{}`", cmd), ErrorKind::kIo);
  while (fgets(buf.data(), buf.size(), p)) out += buf.data();
  if (pclose(p) != 0) throw Error(fmt::format("`{}` failed: {}", cmd, out), ErrorKind::kIo);
  return out;
}

// Median latency of `runs` ONNX Runtime runs (one thread) of `model` on the TensorProto `input`.
inline double ort_median_ms(const std::string& source, const std::string& model,
                            const std::string& input, int runs) {
  const std::string cmd =
      fmt::format("node {}/tests/ort/run_ort.js {} --input input={} --bench {} --threads 1", source,
                  model, input, runs);
  const std::string out = command_output(cmd);
  const auto at = out.find("\"median_ms\":");
  if (at == std::string::npos)
    throw Error(fmt::format("`{}` printed no median: {}", cmd, out), ErrorKind::kIo);
  return std::strtod(out.c_str() + at + 12, nullptr);
}

// The options both programs take; each sets its own defaults before calling add_options.
struct Options {
  int threads = 1, steps = 20, rounds = 9, ort_runs = 300;
  int64_t batch = 64;
  bool no_ort = false;
  std::string source;  // repository root (tests/data/models, tests/ort)
};

inline void add_options(CLI::App& app, Options& o) {
  app.add_option("--threads", o.threads)->check(CLI::PositiveNumber);
  app.add_option("--steps", o.steps, "steps per round and variant")->check(CLI::PositiveNumber);
  app.add_option("--rounds", o.rounds)->check(CLI::PositiveNumber);
  app.add_option("--batch", o.batch)->check(CLI::PositiveNumber);
  app.add_option("--ort-runs", o.ort_runs)->check(CLI::PositiveNumber);
  app.add_flag("--no-ort", o.no_ort, "skip the ONNX Runtime latency");
  app.add_option("--source", o.source, "repository root");
}

// A batch of uniform [0, 1] images (N, 1, 28, 28) drawn from rng, and labels 0..9 in turn.
inline std::pair<Tensor, Tensor> image_batch(int64_t batch, Generator& rng) {
  Tensor x = nn::init::uniform({batch, 1, 28, 28}, 0, 1, rng);
  Tensor y({batch}, DType::kInt64);
  for (int64_t i = 0; i < batch; ++i) y.data<int64_t>()[i] = i % 10;
  return {x, y};
}

inline std::string uptime_text() {
  std::string out = command_output("uptime");
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace tamp::bench
