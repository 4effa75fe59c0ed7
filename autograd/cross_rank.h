// Sums over data-parallel ranks inside an op (synchronised BatchNorm), without autograd
// knowing MPI: scheduler/dist.h registers a sum over its ranks as a group and marks the nodes
// that use it with the attribute tamp_sync_group = id; the op calls cross_rank_sum(id, t) in
// forward and backward, so every rank must run those ops in the same order (same graph, steps).
//
//   CrossRankGroup group([&](Tensor& t) { collective.allreduce(t, nn::Reduce::kSum); });
//   node.attrs.set("tamp_sync_group", group.id());   // ~CrossRankGroup unregisters
#pragma once

#include <tamp/autograd/tensor.h>

#include <cstdint>
#include <functional>

namespace tamp {

// In place: t = the sum of t over the ranks (float64 tensors).
using CrossRankSum = std::function<void(Tensor& t)>;

class CrossRankGroup {
 public:
  explicit CrossRankGroup(CrossRankSum sum);  // registers under a fresh id (>= 1)
  ~CrossRankGroup();                          // unregisters
  CrossRankGroup(const CrossRankGroup&) = delete;
  CrossRankGroup& operator=(const CrossRankGroup&) = delete;
  int64_t id() const { return id_; }

 private:
  int64_t id_;
};

// Group 0 is local (no-op); an id with no registered group is an error naming it.
void cross_rank_sum(int64_t group, Tensor& t);

}  // namespace tamp
