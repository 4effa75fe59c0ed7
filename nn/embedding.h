// Embedding: rows of "weight" (num_embeddings, embedding_dim) picked by integer indices, as
// ONNX Gather on axis 0; weight ~ N(0, 1) as in torch.nn.Embedding. Repeated indices
// accumulate their gradients.
//
//   nn::Embedding tok(1000, 128);
//   Variable h = tok.forward(ids);   // ids int64 (N, S) -> (N, S, 128)
#pragma once

#include <tamp/autograd/random.h>
#include <tamp/nn/layer.h>

namespace tamp::nn {

class Embedding : public Layer {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim, Generator& rng = default_generator());
  Variable forward(const Variable& indices) override;
  const Variable& weight() const { return weight_; }

 private:
  Variable weight_;
};

}  // namespace tamp::nn
