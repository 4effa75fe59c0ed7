// Model-level helpers of dist.h over any nn::Collective (no MPI here).
#include <tamp/autograd/fnv1a.h>
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
  Fnv1a h;
  for (const auto& [name, t] : model.state_dict()) {
    h.add(name);
    for (int64_t d : t.shape()) h.add(&d, sizeof d);
    h.add(t.raw_data(), t.nbytes());
  }
  return h.value();
}

}  // namespace tamp::dist
