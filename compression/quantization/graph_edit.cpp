#include <tamp/compression/quantization/graph_edit.h>

#include <algorithm>

namespace tamp::compression {

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
  return std::any_of(g.outputs.begin(), g.outputs.end(), [&](const nn::ValueInfo& o) { return o.name == v; });
}

void remove_unused(nn::Graph& g) {
  for (bool changed = true; changed;) {
    changed = false;
    std::set<std::string> read;
    for (const auto& n : g.nodes) for (const auto& in : n.inputs) read.insert(in);
    for (const auto& o : g.outputs) read.insert(o.name);
    for (size_t i = g.nodes.size(); i-- > 0;) {
      const auto& outs = g.nodes[i].outputs;
      const bool live = std::any_of(outs.begin(), outs.end(), [&](const std::string& o) { return !o.empty() && read.count(o); });
      if (!live) {
        g.nodes.erase(g.nodes.begin() + static_cast<std::ptrdiff_t>(i));
        changed = true;
      }
    }
    for (auto it = g.initializers.begin(); it != g.initializers.end();) {
      const bool input = std::any_of(g.inputs.begin(), g.inputs.end(), [&](const nn::ValueInfo& v) { return v.name == it->first; });
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

void replace_uses(nn::Graph& g, const std::string& from, const std::string& to, const std::string& skip) {
  for (auto& n : g.nodes) {
    if (!skip.empty() && n.name == skip) continue;
    for (auto& in : n.inputs) if (in == from) in = to;
  }
}

}  // namespace tamp::compression
