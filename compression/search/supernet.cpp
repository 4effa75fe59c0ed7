#include <tamp/compression/pruning/mask_set.h>
#include <tamp/compression/search/supernet.h>

namespace tamp::compression::search {

struct SuperNet::Impl {
  SuperNetOptions options;
  std::optional<SearchSpace> space;
  nn::GraphModule* model = nullptr;
  pruning::MaskSet masks;
  std::map<std::string, Tensor> saved;  // the values of the step's masked parameters
  Generator rng;
};

SuperNet::SuperNet(SuperNetOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->rng.seed_with(impl_->options.seed);
}

SuperNet::~SuperNet() = default;

const SearchSpace& SuperNet::space() const {
  TAMP_CHECK(impl_->space, "SuperNet: attach first");
  return *impl_->space;
}

void SuperNet::attach(nn::GraphModule& model, nn::Collective&) {
  Impl& I = *impl_;
  TAMP_CHECK(!I.model, "a SuperNet attaches to one model once");
  I.model = &model;
  I.space = SearchSpace::of(model.graph(), I.options.space);
  // The smallest sub-network removes part of every parameter any sub-network touches.
  for (const auto& [name, m] : I.space->masks(I.space->smallest(), model.graph())) {
    I.masks.add(name, model.parameter(name), Tensor::ones(m.shape()));
  }
}

Genome SuperNet::genome_at(int64_t step) {
  const SearchSpace& s = space();
  if (step % 4 == 0) return s.largest();
  if (step % 4 == 1) return s.smallest();
  Genome g;
  for (const auto& d : s.dimensions())
    g.push_back(static_cast<int>(impl_->rng.below(d.choices.size())));
  return g;
}

void SuperNet::on_step_begin(const StepInfo& at) {
  Impl& I = *impl_;
  TAMP_CHECK(I.model, "SuperNet: attach before training");
  const auto step_masks = I.space->masks(genome_at(at.step), I.model->graph());
  I.saved.clear();
  for (const auto& [name, m] : I.masks.masks()) {
    Tensor& mask = I.masks.mask(name);
    auto it = step_masks.find(name);
    if (it == step_masks.end())
      mask.copy_from(Tensor::ones(mask.shape(), mask.dtype()));
    else
      mask.copy_from(it->second.to(mask.dtype()));
    I.masks.refresh(name);
    if (it != step_masks.end()) I.saved[name] = I.masks.param(name).value().clone();
  }
  I.masks.apply_to_values();
}

void SuperNet::on_after_step(const StepInfo&) {
  Impl& I = *impl_;
  for (const auto& [name, kept] : I.saved) {
    Tensor v = I.masks.param(name).value();
    const Tensor& m = I.masks.mask(name);
    TAMP_CHECK(v.dtype() == DType::kFloat32 || v.dtype() == DType::kFloat64, "SuperNet: '{}' is {}",
               name, describe(v));
    for (int64_t i = 0; i < v.numel(); ++i) {
      if (m.at(i) != 0) continue;
      if (v.dtype() == DType::kFloat32)
        v.data<float>()[i] = kept.data<float>()[i];
      else
        v.data<double>()[i] = kept.data<double>()[i];
    }
  }
  I.saved.clear();
}

std::map<std::string, Tensor> SuperNet::state() const {
  const Generator::State st = impl_->rng.state();
  std::vector<int64_t> words;
  for (uint64_t w : st) words.push_back(static_cast<int64_t>(w));
  return {{"supernet.rng", Tensor::from_vector<int64_t>({4}, words)}};
}

void SuperNet::load_state(const std::map<std::string, Tensor>& state) {
  auto it = state.find("supernet.rng");
  TAMP_CHECK(it != state.end() && it->second.numel() == 4 && it->second.dtype() == DType::kInt64,
             "super-network state: no sampler position 'supernet.rng'");
  Generator::State st;
  for (size_t i = 0; i < 4; ++i) st[i] = static_cast<uint64_t>(it->second.data<int64_t>()[i]);
  impl_->rng.set_state(st);
}

void SuperNet::finalize(nn::GraphModule&) {
  on_after_step({});
  impl_->masks.release();
}

}  // namespace tamp::compression::search
