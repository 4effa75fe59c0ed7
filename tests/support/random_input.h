// A model input filled from a seed: the graph's input shape with unknown dimensions set to
// `batch`; uniform [0, 1) floats, or int64 token ids below `vocab` for an int64 input.
#pragma once

#include <tamp/autograd/random.h>
#include <tamp/autograd/tensor.h>
#include <tamp/nn/graph.h>

#include <cstdint>

namespace tamp::test {

inline Tensor random_input(const nn::ValueInfo& info, int64_t batch, uint64_t seed,
                           int64_t vocab = 100) {
  Shape shape;
  for (const auto& d : info.shape) shape.push_back(d.known() ? d.value : batch);
  Generator g(seed);
  Tensor t = Tensor::empty(shape, info.dtype);
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (info.dtype == DType::kInt64)
      t.data<int64_t>()[i] = static_cast<int64_t>(g.uniform() * vocab) % vocab;
    else
      t.data<float>()[i] = g.uniform();
  }
  return t;
}

}  // namespace tamp::test
