#include <tamp/nn/embedding.h>

#include <tamp/autograd/apply.h>
#include <tamp/nn/init.h>

namespace tamp::nn {

Embedding::Embedding(int64_t num_embeddings, int64_t embedding_dim, Generator& rng) {
  TAMP_CHECK(num_embeddings > 0 && embedding_dim > 0, "Embedding: sizes ({}, {}) must be positive",
             num_embeddings, embedding_dim);
  weight_ = register_parameter("weight", init::normal({num_embeddings, embedding_dim}, 0, 1, rng));
}

Variable Embedding::forward(const Variable& indices) {
  const DType d = indices.dtype();
  TAMP_CHECK(d == DType::kInt64 || d == DType::kInt32,
             "Embedding: indices must be int64 or int32, got {}", describe(indices.value()));
  const int64_t n = weight_.shape()[0];
  // Gather accepts [-n, n) as ONNX does; an embedding id must be in [0, n).
  for (int64_t i = 0; i < indices.value().numel(); ++i) {
    const int64_t id = d == DType::kInt64 ? indices.value().data<int64_t>()[i]
                                          : indices.value().data<int32_t>()[i];
    TAMP_CHECK(id >= 0 && id < n, "Embedding: index {} at position {} is outside [0, {})", id, i,
               n);
  }
  static const OpDef& gather = OpRegistry::builtin().get("", "Gather", kMaxOpset);
  static const auto attrs = std::make_shared<const Attributes>(Attributes{{"axis", int64_t{0}}});
  return apply(gather, {weight_, indices}, attrs)[0];
}

}  // namespace tamp::nn
