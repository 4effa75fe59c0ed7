// SuperNet: trains the sub-networks of a SearchSpace together, sharing their weights (the
// weight-sharing search of Once-for-All and Intel's DyNAS): every step samples a sub-network
// and trains only what it uses, so that afterwards any sub-network extracted from the trained
// weights (SearchSpace::extract) is usable without training it on its own.
//
//   auto sn = std::make_shared<SuperNet>(SuperNetOptions{.space = {.width_ratios = {0.25, 0.5, 1}}});
//   Trainer(model, {sn}, options).run();       // model now holds the shared weights
//   nn::Graph small = sn->space().extract(model.export_graph(), genome);
//
// Contract (component.h gives the hook order):
//   attach          makes the space from the model's graph (the importance order is the
//                   model's weights at that moment, and stays fixed) and puts a gradient mask
//                   beside every parameter some sub-network removes part of.
//   on_step_begin   samples the step's sub-network by the sandwich rule (BigNAS): step 4k
//                   trains the largest, 4k+1 the smallest, the others a uniformly random
//                   genome; the removed channels' weights are set to zero (their values kept).
//   backward        the masks zero the removed entries' gradients.
//   on_after_step   puts the kept values of the removed entries back: a step changes only
//                   what the sampled sub-network used.
//   finalize        removes the gradient masks; the model is the whole super-network.
// BatchNormalization running statistics are those of the mix of sub-networks trained: measure
// them again for one sub-network before evaluating it (its batch statistics).
#pragma once

#include <tamp/autograd/random.h>
#include <tamp/compression/component.h>
#include <tamp/compression/search/space.h>

#include <memory>
#include <optional>

namespace tamp::compression::search {

struct SuperNetOptions {
  SpaceOptions space = {};
  uint64_t seed = 0;   // the sampled genomes (the same on every rank)
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
