// Field-by-field comparison of nn::Graph values for the io tests: empty when equal, else
// the first difference.
#pragma once

#include <tamp/nn/graph.h>

#include <string>

namespace tamp::test {

// Same dtype, shape and bytes.
bool same_tensor(const Tensor& a, const Tensor& b);
std::string graph_difference(const nn::Graph& a, const nn::Graph& b);

}  // namespace tamp::test
