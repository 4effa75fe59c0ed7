// The options of `tamp search` (cli/search.cpp runs the command).
#include "search.h"

#include <memory>

namespace tamp::cli {

namespace {

// What is searched: strategy, search algorithm, objectives, the space and its seeds.
void add_space_options(CLI::App& sub, SearchArgs& a) {
  sub.add_option("--strategy", a.options.strategy,
                 "dynas (train a weight-sharing super-network once) or basic "
                 "(fine-tune each candidate for --candidate-steps)")
      ->check(CLI::IsMember({"dynas", "basic"}))
      ->capture_default_str();
  sub.add_option("--search", a.options.search, "evolution (NSGA-II) or random")
      ->check(CLI::IsMember({"evolution", "random"}))
      ->capture_default_str();
  sub.add_option("--objectives", a.objectives,
                 "costs minimised with the accuracy: macs, params, latency "
                 "(comma-separated; the first picks and plots)")
      ->capture_default_str();
  sub.add_option("--pick", a.options.pick,
                 "within:P (smallest cost within P accuracy points of the full network) "
                 "or under:F (most accurate at <= F x its cost)")
      ->capture_default_str();
  sub.add_option("--width-ratios", a.width_ratios,
                 "channel (and head) counts searched, as fractions of each layer's "
                 "(default 0.25,0.375,...,1)")
      ->type_name("R1,R2,...");
  sub.add_option("--channel-multiple", a.options.space.channel_multiple,
                 "round channel counts up to a multiple of this")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub.add_flag("--no-heads", a.no_heads, "do not search attention heads");
  sub.add_flag("--no-depth", a.no_depth, "do not drop residual blocks");
  sub.add_option("--exclude", a.options.space.exclude,
                 "keep these weights / attention blocks / Add nodes as they are")
      ->type_name("REGEX");
  sub.add_option("--population", a.options.population, "candidates per generation")
      ->check(CLI::Range(2, 100000))
      ->capture_default_str();
  sub.add_option("--generations", a.options.generations,
                 "NSGA-II generations (random: as many candidates in all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub.add_option("--seed-ratios", a.seed_ratios,
                 "uniform widths evaluated first (and --compare-uniform's)")
      ->type_name("R1,R2,...");
}

// The super-network's, the candidates' and the chosen one's training.
void add_training_options(CLI::App& sub, SearchArgs& a) {
  sub.add_option("--supernet-epochs", a.supernet_epochs,
                 "dynas: super-network training (default 2); basic: the "
                 "whole model's fine-tuning before the search (default 0)")
      ->check(CLI::NonNegativeNumber);
  sub.add_option("--candidate-steps", a.options.candidate_steps,
                 "basic: fine-tuning steps per candidate")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub.add_option("--recalibration-examples", a.options.recalibration_examples,
                 "dynas: examples that measure a candidate's BatchNormalization statistics")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub.add_option("--finetune-epochs", a.finetune_epochs,
                 "fine-tuning of the chosen candidate before export")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub.add_option("--steps", a.steps, "stop each epoch after N steps (quick runs)")
      ->check(CLI::PositiveNumber);
  sub.add_option("--batch", a.options.batch_size, "examples per step")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub.add_option("--lr", a.lr, "SGD learning rate (momentum 0.9, cosine decay per phase)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub.add_option("--seed", a.options.seed, "data order, sampled sub-networks, evolution")
      ->capture_default_str();
}

// How candidates are scored and measured, and the uniform comparison.
void add_evaluation_options(CLI::App& sub, SearchArgs& a) {
  sub.add_option("--val-size", a.val_size, "training examples held out to score candidates")
      ->capture_default_str();
  sub.add_option("--validation-batches", a.options.validation_batches,
                 "score candidates on this many batches of 256")
      ->check(CLI::PositiveNumber);
  sub.add_option("--ort-runner", a.ort_runner,
                 "tests/ort/run_ort.js: measure latency in ONNX Runtime (the latency "
                 "objective; else the front's)")
      ->type_name("run_ort.js");
  sub.add_option("--latency-runs", a.latency_runs, "runs per latency median")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub.add_option("--latency-batch", a.latency_batch, "examples per latency run")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub.add_flag("--compare-uniform", a.compare_uniform,
               "also fine-tune uniform channel pruning at each --seed-ratios "
               "width and the best searched candidate at its MACs (test set)");
}

}  // namespace

Action setup_search(CLI::App& sub) {
  auto a = std::make_shared<SearchArgs>();
  add_model_arg(sub, a->model);
  add_dataset_options(sub, a->data, "");
  sub.add_option("--out-dir", a->out_dir,
                 "where model.onnx, summary.json and report.html go (default: runs/search_<model>)")
      ->type_name("DIR");
  add_space_options(sub, *a);
  add_training_options(sub, *a);
  add_evaluation_options(sub, *a);
  add_data_input_output_options(sub, a->options.input, a->options.output);
  add_json_flag(sub, a->json);
  add_threads_option(sub, a->threads);
  return [a] { return run_search(*a); };
}

}  // namespace tamp::cli
