// ArchitectureSearch: neural architecture search over an imported graph as a stage of the
// training loop (strategies dynas and basic; NSGA-II or random candidates); the chosen
// candidate replaces the model's graph at finalize. Strategies, objectives, data: docs/search.md
//
//   auto s = std::make_shared<ArchitectureSearch>(SearchOptions{.objectives = {"macs"}});
//   sched.append(Stage{.components = {s}, .epochs = 3});     // super-network, then the search
//   sched.append(Stage{.epochs = 2});                         // fine-tunes the chosen sub-network
//   const SearchResult& r = s->result();                      // r.candidates, r.front, r.chosen
#pragma once

#include <tamp/compression/component.h>
#include <tamp/compression/search/space.h>
#include <tamp/nn/dataset.h>
#include <tamp/scheduler/trainer.h>

#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace tamp::search {

struct SearchOptions {
  std::string strategy = "dynas";    // dynas | basic
  std::string search = "evolution";  // evolution | random
  compression::search::SpaceOptions space = {};
  std::vector<std::string> objectives = {"macs"};  // one or more of macs, params, latency
  int population = 16;
  int generations = 4;
  // "within:P": the smallest first objective among the candidates whose accuracy is at most P
  // points below the full network's; "under:F": the most accurate candidate whose first
  // objective is at most F times the full network's.
  std::string pick = "within:1";
  std::vector<double> seed_ratios = {0.25, 0.5, 0.75};
  int64_t batch_size = 64;
  int64_t validation_batches = -1;       // per candidate evaluation; -1: all
  int64_t recalibration_examples = 512;  // dynas, graphs with BatchNormalization
  int64_t candidate_steps = 100;         // basic
  OptimizerSpec candidate_optimizer = SGD{.lr = 0.01, .momentum = 0.9};
  uint64_t seed = 0;
  std::string input, output;
  // Milliseconds to run a graph (the CLI measures it in ONNX Runtime); required by the
  // latency objective, else used for the front's candidates when set.
  std::function<double(const nn::Graph&)> latency_ms = {};
  std::function<void(const std::string&)> on_progress = {};
};

// Throws (kInvalidInput) for an unknown strategy, search, objective or pick rule.
void check_search_options(const SearchOptions& options);

struct Candidate {
  compression::search::Genome genome;
  std::vector<int64_t> values;  // per dimension: channels, heads, 0/1 kept
  std::string description;      // SearchSpace::describe
  std::string origin;           // seed, initial, generation N, random
  double accuracy = 0;          // top-1 on the validation data, in [0, 1]
  int64_t macs = 0, parameters = 0;
  double latency_ms = std::numeric_limits<double>::quiet_NaN();  // NaN: not measured
  bool on_front = false;
};

struct SearchResult {
  std::string strategy, search, pick;
  std::vector<std::string> objectives;
  std::vector<compression::search::Dimension> dimensions;
  std::vector<Candidate> candidates;  // in evaluation order; [0] is the full network
  std::vector<int> front;             // indices of the Pareto front, by the first objective
  int chosen = -1;
  int64_t validation_examples = 0;
  double seconds = 0;  // the search after the stage's training
};

class ArchitectureSearch : public compression::Component {
 public:
  explicit ArchitectureSearch(SearchOptions options);
  ~ArchitectureSearch() override;
  std::string name() const override { return "search"; }

  // train: BatchNormalization recalibration and basic's fine-tuning; validation: accuracy.
  void set_data(std::shared_ptr<const nn::Dataset> train,
                std::shared_ptr<const nn::Dataset> validation);
  bool has_data() const;

  void attach(nn::GraphModule& model, nn::Collective& collective) override;
  void on_step_begin(const compression::StepInfo& at) override;
  void on_after_step(const compression::StepInfo& at) override;
  // Runs the search and replaces the model's graph by the chosen sub-network.
  void finalize(nn::GraphModule& model) override;
  std::map<std::string, Tensor> state() const override;
  void load_state(const std::map<std::string, Tensor>& state) override;

  const compression::search::SearchSpace& space() const;
  // requires: finalize.
  const SearchResult& result() const;
  // Candidate `index` of result() as the search evaluated it (extracted from the weights the
  // search started from; fine-tuned or recalibrated as the strategy does).
  nn::Graph candidate_graph(int index) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Sets the BatchNormalization running statistics of `graph` to the statistics of the first
// `examples` examples of `data` (one batch in training mode), in new tensors.
void recalibrate_batch_norm(nn::Graph& graph, const nn::Dataset& data, int64_t examples,
                            const std::string& input);

}  // namespace tamp::search
