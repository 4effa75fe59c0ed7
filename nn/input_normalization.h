// Input normalization inside the model: (x - mean) / std as a Sub and a Div node at the start
// of the graph, so the model file takes raw values and carries the statistics it was trained
// with; its two initializers are listed under kConstantsKey (graph.h), so never trained.
//
//   nn::normalize_input(g, "input", {.mean = 0.286, .std = 0.353});   // again: no change
//   nn::input_normalization(g, "input");   // {0.286, 0.353} (as float32)
#pragma once

#include <tamp/nn/graph.h>

#include <optional>
#include <string>

namespace tamp::nn {

struct InputNormalization {
  double mean = 0;
  double std = 1;  // > 0
};

// The normalization normalize_input wrote at the start of `input`, if the graph has it.
std::optional<InputNormalization> input_normalization(const Graph& graph, const std::string& input);

// Prepends (input - mean) / std: every node that read `input` reads the normalized value.
// A graph that already normalizes `input` with the same statistics (compared in the input's
// float type) is left unchanged. Throws (kInvalidInput) naming the input when it is not a
// floating-point graph input, when std is not positive and finite, or when the graph already
// normalizes it with other statistics.
void normalize_input(Graph& graph, const std::string& input, const InputNormalization& n);

}  // namespace tamp::nn
