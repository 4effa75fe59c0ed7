// SuperNet: trains the sub-networks of a SearchSpace together, sharing their weights
// (Once-for-All, DyNAS): each step trains one sampled sub-network, so any sub-network extracted
// afterwards is usable without training of its own. Hooks: docs/search.md#strategies
//
//   auto sn = std::make_shared<SuperNet>(SuperNetOptions{.space = {.width_ratios = {0.5, 1}}});
//   Trainer(model, {sn}, options).run();       // model now holds the shared weights
//   nn::Graph small = sn->space().extract(model.export_graph(), genome);
#pragma once

#include <tamp/autograd/random.h>
#include <tamp/compression/component.h>
#include <tamp/compression/search/space.h>

#include <memory>
#include <optional>

namespace tamp::compression::search {

struct SuperNetOptions {
  SpaceOptions space = {};
  uint64_t seed = 0;  // the sampled genomes (the same on every rank)
};

class SuperNet : public Component {
 public:
  explicit SuperNet(SuperNetOptions options);
  ~SuperNet() override;
  std::string name() const override { return "supernet"; }

  void attach(nn::GraphModule& model, nn::Collective& collective) override;
  void on_step_begin(const StepInfo& at) override;
  void on_after_step(const StepInfo& at) override;
  void finalize(nn::GraphModule& model) override;
  // The sampler's position ("supernet.rng"), so a resumed run samples what it would have.
  std::map<std::string, Tensor> state() const override;
  void load_state(const std::map<std::string, Tensor>& state) override;

  // requires: attach.
  const SearchSpace& space() const;
  // The genome step `step` trains.
  Genome genome_at(int64_t step);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tamp::compression::search
