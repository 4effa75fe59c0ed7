// What a recipe for a model must know about its graph (recipe_generator.h reads it): the layers
// pruning and quantization act on, which read the input or produce the logits, depthwise convs,
// what N:M can tile, embedding tables, normalization layers and attention.
//
//   ModelSurvey s = survey_model(io::load_onnx_graph("cnn.onnx"));
//   std::string why = nm_problem(s.layers[0], "2:4");   // "2:4 groups need the input ..."
#pragma once

#include <tamp/compression/pruning/pattern.h>
#include <tamp/nn/graph.h>

#include <string>
#include <vector>

namespace tamp {

// A Conv / Gemm / MatMul weight (compression/pruning/targets.h finds them).
struct SurveyLayer {
  std::string weight;  // initializer name
  std::string node, op_type;
  compression::pruning::WeightLayout layout;
  int64_t group = 1;        // Conv: its group attribute
  bool first = false;       // reads the model input through reshapes and constant arithmetic
  bool classifier = false;  // its output is a graph output through a bias Add or reshapes
  bool depthwise = false;   // Conv with group > 1 and one input channel per group
  int64_t elements() const { return layout.numel(); }
};

struct ModelSurvey {
  std::vector<nn::ValueInfo> inputs;    // graph inputs that are not initializers
  std::string output;                   // the first graph output (the logits by default)
  std::vector<SurveyLayer> layers;      // in node order
  std::vector<std::string> embeddings;  // float tables read by a Gather (token ids), then
                                        // float tables of rank >= 2 only added (positions)
  int64_t batch_norms = 0, layer_norms = 0, softmaxes = 0;
  std::vector<std::string> attention_matmuls;  // MatMul nodes multiplying two activations
                                               // (weights seen through Identity are not ones)
  bool normalizes_input = false;               // the model standardizes its input itself (Sub, Div)
  int64_t weight_elements = 0;                 // of `layers`
};

// Throws (kInvalidInput) for a graph with no input.
ModelSurvey survey_model(const nn::Graph& graph);

// Why `pattern` (e.g. "2:4") cannot prune the layer's weight ("" when it can): the
// divisibility rule of pattern.h (N:M groups run along the input channels).
std::string nm_problem(const SurveyLayer& layer, const std::string& pattern);

}  // namespace tamp
