#include <tamp/scheduler/model_survey.h>

#include <tamp/compression/pruning/targets.h>
#include <tamp/nn/input_normalization.h>

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace tamp {

namespace {

using compression::pruning::constant_value;

bool is_constant(const nn::Graph& g, const std::string& value) {
  return !value.empty() && constant_value(g, value).defined();
}

// Ops that carry one data input to their output unchanged in meaning (reshapes) or shifted
// and scaled by constants (an input normalization, a bias).
bool carries_data(const nn::Node& n) {
  static const std::set<std::string> ops{"Reshape", "Flatten", "Transpose", "Identity",
                                         "Cast",    "Squeeze", "Unsqueeze", "Sub",
                                         "Div",     "Mul",     "Add"};
  return n.domain.empty() && ops.count(n.op_type);
}

// The one input of `n` that is not a constant (shape inputs of Reshape are constants), or "".
std::string data_input(const nn::Graph& g, const nn::Node& n) {
  std::string data;
  for (const auto& in : n.inputs) {
    if (in.empty() || is_constant(g, in)) continue;
    if (!data.empty()) return "";
    data = in;
  }
  return data;
}

// A constant, or one seen through Identity / Transpose / reshapes (weights shared between
// layers reach their MatMuls through Identity nodes).
bool from_constant(const nn::Graph& g, std::string value) {
  static const std::set<std::string> ops{"Identity", "Transpose", "Reshape",
                                         "Cast",     "Squeeze",   "Unsqueeze"};
  for (size_t hops = 0; hops <= g.nodes.size(); ++hops) {
    if (is_constant(g, value)) return true;
    const int p = g.producer(value);
    if (p < 0 || !g.nodes[p].domain.empty() || !ops.count(g.nodes[p].op_type)) return false;
    value = g.nodes[p].inputs.empty() ? "" : g.nodes[p].inputs[0];  // these ops' data input
  }
  return false;
}

bool is_graph_input(const nn::Graph& g, const std::string& value) {
  for (const auto& i : g.inputs) {
    if (i.name == value) return true;
  }
  return false;
}

// `value` is a graph input seen through reshapes and constant arithmetic.
bool reads_input(const nn::Graph& g, std::string value) {
  for (size_t hops = 0; hops <= g.nodes.size(); ++hops) {
    if (is_graph_input(g, value)) return true;
    const int p = g.producer(value);
    if (p < 0 || !carries_data(g.nodes[p])) return false;
    value = data_input(g, g.nodes[p]);
    if (value.empty()) return false;
  }
  return false;
}

bool is_graph_output(const nn::Graph& g, const std::string& value) {
  for (const auto& o : g.outputs) {
    if (o.name == value) return true;
  }
  return false;
}

// `value` reaches a graph output through its only readers, each a reshape or constant arithmetic.
bool gives_output(const nn::Graph& g, std::string value) {
  for (size_t hops = 0; hops <= g.nodes.size(); ++hops) {
    if (is_graph_output(g, value)) return true;
    const auto readers = g.consumers(value);
    if (readers.size() != 1) return false;
    const nn::Node& r = g.nodes[readers[0]];
    if (!carries_data(r) || r.outputs.empty() || data_input(g, r) != value) return false;
    value = r.outputs[0];
  }
  return false;
}

}  // namespace

ModelSurvey survey_model(const nn::Graph& g) {
  ModelSurvey s;
  s.inputs = g.inputs;
  if (s.inputs.empty()) throw Error("the model has no input", ErrorKind::kInvalidInput);
  s.output = g.outputs.empty() ? "" : g.outputs[0].name;
  s.normalizes_input = nn::input_normalization(g, g.inputs[0].name).has_value();
  std::set<std::string> seen;
  for (const auto& w : compression::pruning::find_prunable_weights(g)) {
    if (!seen.insert(w.weight).second) continue;  // a shared weight: its first use
    const nn::Node& n = g.nodes[w.node_index];
    SurveyLayer l;
    l.weight = w.weight;
    l.node = w.node;
    l.op_type = w.op_type;
    l.layout = w.layout;
    l.group = n.op_type == "Conv" ? n.attrs->i("group", 1) : 1;
    l.depthwise = l.group > 1 && w.layout.in_channels == 1;
    l.first = reads_input(g, n.inputs[0]);
    // A MatMul's bias Add is the one reader of its output (gives_output walks through it).
    l.classifier = !n.outputs.empty() && gives_output(g, n.outputs[0]);
    s.weight_elements += l.elements();
    s.layers.push_back(std::move(l));
  }
  for (const auto& n : g.nodes) {
    if (!n.domain.empty()) continue;
    if (n.op_type == "BatchNormalization") ++s.batch_norms;
    if (n.op_type == "LayerNormalization") ++s.layer_norms;
    if (n.op_type == "Softmax") ++s.softmaxes;
    if (n.op_type == "Gather" && n.inputs.size() == 2 && g.initializers.count(n.inputs[0]) &&
        g.initializers.at(n.inputs[0]).dtype() == DType::kFloat32) {
      s.embeddings.push_back(n.inputs[0]);
    }
    if (n.op_type == "MatMul" && n.inputs.size() == 2 && !from_constant(g, n.inputs[0]) &&
        !from_constant(g, n.inputs[1])) {
      s.attention_matmuls.push_back(n.name);
    }
  }
  // Learned position tables: float initializers of rank >= 2 that are only added.
  for (const auto& [name, t] : g.initializers) {
    const auto readers = g.consumers(name);
    if (t.dtype() != DType::kFloat32 || t.rank() < 2 || readers.empty()) continue;
    if (std::all_of(readers.begin(), readers.end(),
                    [&](int r) { return g.nodes[r].op_type == "Add"; })) {
      s.embeddings.push_back(name);
    }
  }
  return s;
}

std::string nm_problem(const SurveyLayer& layer, const std::string& pattern) {
  return compression::pruning::divisibility_problem(compression::pruning::Pattern::parse(pattern),
                                                    layer.layout);
}

}  // namespace tamp
