#include <tamp/nn/graph_edit.h>

#include <algorithm>

namespace tamp::nn {

NameScope::NameScope(const nn::Graph& g) {
  for (const auto& v : g.defined_values()) used_.insert(v);
  for (const auto& n : g.nodes) used_.insert(n.name);
  for (const auto& o : g.outputs) used_.insert(o.name);
}

std::string NameScope::fresh(const std::string& base) {
  std::string name = base;
  for (int k = 1; used_.count(name); ++k) name = base + "_" + std::to_string(k);
  used_.insert(name);
  return name;
}

bool is_graph_output(const nn::Graph& g, const std::string& v) {
  return std::any_of(g.outputs.begin(), g.outputs.end(),
                     [&](const nn::ValueInfo& o) { return o.name == v; });
}

void remove_unused(nn::Graph& g) {
  for (bool changed = true; changed;) {
    changed = false;
    std::set<std::string> read;
    for (const auto& n : g.nodes)
      for (const auto& in : n.inputs) read.insert(in);
    for (const auto& o : g.outputs) read.insert(o.name);
    for (size_t i = g.nodes.size(); i-- > 0;) {
      const auto& outs = g.nodes[i].outputs;
      const bool live = std::any_of(outs.begin(), outs.end(), [&](const std::string& o) {
        return !o.empty() && read.count(o);
      });
      if (!live) {
        g.nodes.erase(g.nodes.begin() + static_cast<std::ptrdiff_t>(i));
        changed = true;
      }
    }
    for (auto it = g.initializers.begin(); it != g.initializers.end();) {
      const bool input = std::any_of(g.inputs.begin(), g.inputs.end(),
                                     [&](const nn::ValueInfo& v) { return v.name == it->first; });
      if (!read.count(it->first) && !input) {
        it = g.initializers.erase(it);
        changed = true;
      } else {
        ++it;
      }
    }
  }
  std::set<std::string> defined;
  for (const auto& v : g.defined_values()) defined.insert(v);
  g.value_info.erase(std::remove_if(g.value_info.begin(), g.value_info.end(),
                                    [&](const nn::ValueInfo& v) { return !defined.count(v.name); }),
                     g.value_info.end());
}

void replace_uses(nn::Graph& g, const std::string& from, const std::string& to,
                  const std::string& skip) {
  for (auto& n : g.nodes) {
    if (!skip.empty() && n.name == skip) continue;
    for (auto& in : n.inputs)
      if (in == from) in = to;
  }
}

void release_training_modes(nn::Graph& g) {
  std::set<std::string> read;
  for (const auto& n : g.nodes) read.insert(n.inputs.begin(), n.inputs.end());
  for (auto& n : g.nodes) {
    if (n.op_type == "Dropout" && n.domain.empty() && n.inputs.size() >= 3 &&
        !n.inputs[2].empty()) {
      const int p = g.producer(n.inputs[2]);
      if (g.initializers.count(n.inputs[2]) ||
          (p >= 0 && g.nodes[static_cast<size_t>(p)].op_type == "Constant")) {
        n.inputs.resize(2);
      }
    }
    if (n.op_type == "BatchNormalization" && n.domain.empty()) {
      const bool extra_read =
          std::any_of(n.outputs.begin() + std::min<size_t>(1, n.outputs.size()), n.outputs.end(),
                      [&](const std::string& o) { return read.count(o) || is_graph_output(g, o); });
      if (!extra_read) n.outputs.resize(std::min<size_t>(1, n.outputs.size()));
      if (n.attrs && n.attrs->has("training_mode")) {
        Attributes a = *n.attrs;
        a.erase("training_mode");
        n.attrs = nn::attrs_with(std::move(a));
      }
    }
  }
  remove_unused(g);
}

}  // namespace tamp::nn
