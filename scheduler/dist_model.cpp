// Model-level helpers of dist.h over any nn::Collective (no MPI here).
#include <tamp/scheduler/dist.h>

#include <cstring>

namespace tamp::dist {

void broadcast_parameters(nn::GraphModule& model, nn::Collective& collective, int root) {
  if (collective.size() <= 1) return;
  // state_dict(): every parameter and buffer, ordered by name, sharing storage with the model.
  std::vector<Tensor> values;
  for (auto& [name, t] : model.state_dict()) values.push_back(t);
  collective.broadcast_many(values, root);
}

int average_batch_norm_statistics(nn::GraphModule& model, nn::Collective& collective) {
  std::vector<Tensor> stats;
  for (const auto& [name, v] : model.named_buffers()) {
    if (is_floating(v.value().dtype())) stats.push_back(v.value());
  }
  if (collective.size() > 1) collective.allreduce_many(stats, nn::Reduce::kMean);
  return static_cast<int>(stats.size());
}

uint64_t parameter_hash(const nn::GraphModule& model) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  };
  for (const auto& [name, t] : model.state_dict()) {
    mix(name.data(), name.size());
    for (int64_t d : t.shape()) mix(&d, sizeof d);
    mix(t.raw_data(), t.nbytes());
  }
  return h;
}

}  // namespace tamp::dist
