// Inserting FakeQuantize nodes (domain tamp) into a float graph at the points of a QuantPlan,
// and finding them again; activations keep their value names and can start bypassed.
// Naming and bypass: docs/quantization.md#where-the-fakequantize-nodes-go
//
//   auto sites = insert_fake_quantize(graph, plan, qint8_per_channel, quint8, /*bypass=*/true);
//   ...                                     // observe values sites[i].input
//   activate_fake_quantize(graph, sites);
#pragma once

#include <tamp/compression/quantization/qspec.h>
#include <tamp/compression/quantization/quant_plan.h>
#include <tamp/nn/graph.h>

#include <string>
#include <vector>

namespace tamp::compression {

struct FakeQuantSite {
  std::string value;              // activation: the value readers see; weight: the initializer
  std::string input;              // X of the FakeQuantize node (the float value / the weight)
  std::string output;             // Y of the FakeQuantize node once active
  std::string node;               // the FakeQuantize node
  std::string bypass_node;        // the Identity standing in while bypassed ("" when none)
  std::string scale, zero_point;  // float initializers (scalar, or [C] per channel)
  QuantSpec spec;                 // per_channel and axis as applied to this tensor
  bool is_weight = false;
};

// Rewrites `graph` in place; returns one site per weight and activation of `plan`.
// Weights get their scales from their current values; activations scale 1 until observed.
std::vector<FakeQuantSite> insert_fake_quantize(nn::Graph& graph, const QuantPlan& plan,
                                                const QuantSpec& weights,
                                                const QuantSpec& activations,
                                                bool bypass_activations);

// Removes the bypass Identities: FakeQuantize outputs reach the readers. Idempotent.
void activate_fake_quantize(nn::Graph& graph, std::vector<FakeQuantSite>& sites);

// The sites of every FakeQuantize node of a graph (a QAT/PTQ result, a resumed model).
// Weights are FakeQuantize nodes whose X is an initializer. Bypassed sites are reported with
// their bypass node.
std::vector<FakeQuantSite> find_fake_quantize(const nn::Graph& graph);

// FakeQuantize attributes for a spec (axis when per channel, the integer range, LSQ's
// gradient factor when not 1).
Attributes fake_quantize_attrs(const QuantSpec& spec, double grad_factor = 1.0);

}  // namespace tamp::compression
