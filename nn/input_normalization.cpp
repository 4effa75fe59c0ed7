#include <tamp/nn/input_normalization.h>

#include <cmath>

namespace tamp::nn {

namespace {

struct Names {
  std::string sub, div, mean, std, centered, normalized;
};

// Every name derives from the input's, so two normalized inputs never clash.
Names names_for(const std::string& input) {
  const std::string p = "normalize_" + input + "/";
  return {p + "Sub", p + "Div", p + "mean", p + "std", p + "centered", p + "output"};
}

const ValueInfo* graph_input(const Graph& g, const std::string& input) {
  for (const auto& v : g.inputs) {
    if (v.name == input && !g.initializers.count(input)) return &v;
  }
  return nullptr;
}

}  // namespace

std::optional<InputNormalization> input_normalization(const Graph& g, const std::string& input) {
  const Names n = names_for(input);
  const Node* sub = g.find_node(n.sub);
  const Node* div = g.find_node(n.div);
  if (!sub || !div || sub->inputs.size() != 2 || div->inputs.size() != 2 ||
      sub->inputs[0] != input || div->inputs[0] != n.centered || !g.initializers.count(n.mean) ||
      !g.initializers.count(n.std)) {
    return std::nullopt;
  }
  return InputNormalization{g.initializers.at(n.mean).item(), g.initializers.at(n.std).item()};
}

void normalize_input(Graph& g, const std::string& input, const InputNormalization& norm) {
  const ValueInfo* info = graph_input(g, input);
  TAMP_CHECK(info, "cannot normalize '{}': the model has no input of that name", input);
  if (!is_floating(info->dtype)) {
    throw Error(
        fmt::format(
            "cannot normalize input '{}': it is {}, and (x - mean) / std applies to floating-point "
            "inputs",
            input, dtype_name(info->dtype)),
        ErrorKind::kInvalidInput, "drop --normalize (data.normalize in a recipe) for this model");
  }
  TAMP_CHECK(
      std::isfinite(norm.mean) && std::isfinite(norm.std) && norm.std > 0,
      "cannot normalize input '{}' with mean {} and std {}: std must be positive and both finite",
      input, norm.mean, norm.std);
  const Tensor mean = Tensor::scalar(norm.mean, info->dtype),
               std = Tensor::scalar(norm.std, info->dtype);
  if (const auto have = input_normalization(g, input)) {
    if (Tensor::scalar(have->mean, info->dtype).item() == mean.item() &&
        Tensor::scalar(have->std, info->dtype).item() == std.item()) {
      return;
    }
    throw Error(
        fmt::format(
            "input '{}' of the model is already normalized with mean {:.9g}, std {:.9g}, not mean "
            "{:.9g}, std {:.9g}",
            input, have->mean, have->std, norm.mean, norm.std),
        ErrorKind::kInvalidInput, "the model takes raw values: drop --normalize (data.normalize)");
  }
  const Names n = names_for(input);
  for (auto& node : g.nodes) {
    for (auto& in : node.inputs) {
      if (in == input) in = n.normalized;
    }
  }
  g.initializers[n.mean] = mean;
  g.initializers[n.std] = std;
  g.nodes.insert(g.nodes.begin(),
                 {{n.sub, "Sub", "", {input, n.mean}, {n.centered}, attrs_with({})},
                  {n.div, "Div", "", {n.centered, n.std}, {n.normalized}, attrs_with({})}});
  std::string& constants = g.metadata[kConstantsKey];
  for (const auto& name : {n.mean, n.std}) constants += (constants.empty() ? "" : ",") + name;
}

}  // namespace tamp::nn
