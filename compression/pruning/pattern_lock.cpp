#include <tamp/compression/pruning/heads.h>
#include <tamp/compression/pruning/mask_set.h>
#include <tamp/compression/pruning/pruning.h>
#include <tamp/compression/pruning/targets.h>

namespace tamp::compression {

struct PatternLock::Impl {
  pruning::MaskSet masks;
  std::map<std::string, int64_t> zeros;
  bool attached = false;
};

PatternLock::PatternLock() : impl_(std::make_unique<Impl>()) {}
PatternLock::~PatternLock() = default;

void PatternLock::attach(nn::GraphModule& model, nn::Collective&) {
  TAMP_CHECK(!impl_->attached, "a PatternLock attaches to one model once");
  impl_->attached = true;
  const nn::Graph& g = model.graph();
  std::map<std::string, Variable> params;
  for (const auto& [name, p] : model.named_parameters()) params[name] = p;
  auto lock = [&](const std::string& name, const Tensor& mask) {
    if (!params.count(name) || impl_->masks.has(name)) return;
    const Tensor m = mask.to(DType::kFloat32);
    int64_t zeros = 0;
    for (int64_t i = 0; i < m.numel(); ++i) zeros += m.data<float>()[i] == 0;
    if (zeros == 0) return;
    impl_->masks.add(name, params.at(name), m);
    impl_->zeros[name] = zeros;
  };
  auto ones_except = [&](const std::string& name, const std::vector<int64_t>& zero_at) {
    Tensor m = Tensor::ones(params.at(name).shape());
    for (int64_t i : zero_at)
      if (i < m.numel()) m.data<float>()[i] = 0;
    return m;
  };
  for (const auto& w : pruning::find_prunable_weights(g)) {
    if (!params.count(w.weight)) continue;
    const Tensor v = params.at(w.weight).value().to(DType::kFloat32);
    Tensor mask = Tensor::empty(v.shape());
    for (int64_t i = 0; i < v.numel(); ++i)
      mask.data<float>()[i] = v.data<float>()[i] != 0 ? 1.0f : 0.0f;
    // Rows (output channels) that are all zero keep their bias and BatchNormalization entries
    // at zero too: otherwise the channel would carry a constant and could not be removed.
    const std::vector<float> view = pruning::to_view(mask, w.layout);
    std::vector<int64_t> dead;
    for (int64_t r = 0; r < w.layout.out; ++r) {
      bool zero = true;
      for (int64_t c = 0; c < w.layout.reduction && zero; ++c)
        zero = view[r * w.layout.reduction + c] == 0;
      if (zero) dead.push_back(r);
    }
    lock(w.weight, mask);
    if (dead.empty()) continue;
    std::vector<std::string> followers;
    if (!w.bias.empty()) followers.push_back(w.bias);
    for (int dw : w.depthwise) {
      if (g.nodes[dw].inputs.size() > 2 && !g.nodes[dw].inputs[2].empty())
        followers.push_back(g.nodes[dw].inputs[2]);
    }
    for (int bn : w.batch_norms) {
      for (size_t k = 1; k <= 2 && k < g.nodes[bn].inputs.size(); ++k)
        followers.push_back(g.nodes[bn].inputs[k]);
    }
    for (const auto& f : followers)
      if (params.count(f)) lock(f, ones_except(f, dead));
  }
  // Attention heads whose V columns are all zero keep their Q/K/V bias entries at zero.
  for (const auto& b : pruning::find_attention_blocks(g)) {
    if (!params.count(b.v_weight)) continue;
    const Tensor v = params.at(b.v_weight).value().to(DType::kFloat32);
    const int64_t width = v.dim(1);
    std::vector<int64_t> dead;
    for (int64_t h = 0; h < b.heads; ++h) {
      bool zero = true;
      for (int64_t r = 0; r < v.dim(0) && zero; ++r) {
        for (int64_t c = h * b.head_dim; c < (h + 1) * b.head_dim && zero; ++c)
          zero = v.data<float>()[r * width + c] == 0;
      }
      if (!zero) continue;
      for (int64_t c = h * b.head_dim; c < (h + 1) * b.head_dim; ++c) dead.push_back(c);
    }
    if (dead.empty()) continue;
    for (const auto* bias : {&b.q_bias, &b.k_bias, &b.v_bias}) {
      if (!bias->empty() && params.count(*bias)) lock(*bias, ones_except(*bias, dead));
    }
  }
}

void PatternLock::on_after_step(const StepInfo&) { impl_->masks.apply_to_values(); }

void PatternLock::finalize(nn::GraphModule&) {
  impl_->masks.apply_to_values();
  impl_->masks.leave_hooks();
}

std::map<std::string, Tensor> PatternLock::state() const {
  std::map<std::string, Tensor> s;
  for (const auto& [name, m] : impl_->masks.masks()) s[name + ".mask"] = m.clone();
  return s;
}

std::map<std::string, int64_t> PatternLock::locked() const { return impl_->zeros; }

}  // namespace tamp::compression
