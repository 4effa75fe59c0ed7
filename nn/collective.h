// Collective: the few reductions training needs across data-parallel ranks, as an interface,
// so that nn/ and compression/ stay MPI-free. scheduler/dist implements it over MPI; the
// single-process default does nothing.
//
//   void Observer::sync(Collective& c) { c.allreduce(min_, Reduce::kMin); c.allreduce(max_,
//   Reduce::kMax); }
#pragma once

#include <tamp/autograd/tensor.h>

#include <vector>

namespace tamp::nn {

enum class Reduce { kSum, kMean, kMin, kMax };

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const { return 0; }
  virtual int size() const { return 1; }
  // In place, on every rank: t = reduce over ranks of t (float32/float64/int64).
  virtual void allreduce(Tensor& t, Reduce op) {}
  // In place: every rank gets rank `root`'s t.
  virtual void broadcast(Tensor& t, int root = 0) {}
  // Many tensors at once (gradients, parameters): implementations fuse them into a few large
  // messages; the default makes one call per tensor.
  virtual void allreduce_many(std::vector<Tensor>& ts, Reduce op) {
    for (auto& t : ts) allreduce(t, op);
  }
  virtual void broadcast_many(std::vector<Tensor>& ts, int root = 0) {
    for (auto& t : ts) broadcast(t, root);
  }
  // Returns when every rank has called it.
  virtual void barrier() {}
};

// The single-process collective (every operation is the identity).
Collective& local_collective();

}  // namespace tamp::nn
