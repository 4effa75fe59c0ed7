// A model of one Gemm (input (batch, in) -> logits (batch, out), zero weights): the first layer
// and the classifier at once, so rules that leave both dense find nothing to compress.
#pragma once

#include <tamp/nn/graph.h>

namespace tamp::test {

inline nn::Graph lone_gemm(int64_t in = 784, int64_t out = 10) {
  nn::Graph g;
  g.inputs.push_back({"input", DType::kFloat32, {nn::Dim::symbolic("batch"), nn::Dim::of(in)}});
  g.outputs.push_back({"logits", DType::kFloat32, {nn::Dim::symbolic("batch"), nn::Dim::of(out)}});
  g.initializers["w"] = Tensor::zeros({out, in});
  Attributes gemm;
  gemm.set("transB", int64_t{1});
  g.nodes.push_back({"fc", "Gemm", "", {"input", "w"}, {"logits"}, nn::attrs_with(gemm)});
  return g;
}

}  // namespace tamp::test
