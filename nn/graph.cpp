#include <tamp/nn/graph.h>

#include <algorithm>
#include <set>
#include <unordered_map>

namespace tamp::nn {

std::shared_ptr<const Attributes> attrs_with(Attributes a) {
  return std::make_shared<const Attributes>(std::move(a));
}

int64_t Graph::opset(const std::string& domain) const {
  auto it = opsets.find(domain == "ai.onnx" ? "" : domain);
  return it == opsets.end() ? 0 : it->second;
}

int Graph::producer(const std::string& value) const {
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (const auto& o : nodes[i].outputs)
      if (o == value) return static_cast<int>(i);
  }
  return -1;
}

std::vector<int> Graph::consumers(const std::string& value) const {
  std::vector<int> out;
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (const auto& in : nodes[i].inputs) {
      if (in == value) {
        out.push_back(static_cast<int>(i));
        break;
      }
    }
  }
  return out;
}

const Node* Graph::find_node(const std::string& n) const {
  for (const auto& node : nodes)
    if (node.name == n) return &node;
  return nullptr;
}

std::vector<std::string> Graph::defined_values() const {
  std::vector<std::string> out;
  for (const auto& v : inputs) out.push_back(v.name);
  for (const auto& [n, t] : initializers) out.push_back(n);
  for (const auto& node : nodes) {
    for (const auto& o : node.outputs)
      if (!o.empty()) out.push_back(o);
  }
  return out;
}

namespace {
std::string node_label(const Node& n, size_t index) {
  return fmt::format("node '{}' ({}, #{})", n.name, n.op_type, index);
}

// Who defines each value (-1: a graph input or initializer; else the node's index), checking
// that every value is defined once and every node input and graph output is defined.
std::unordered_map<std::string, int> value_definitions(const Graph& g) {
  const auto& inputs = g.inputs;
  const auto& nodes = g.nodes;
  const auto& outputs = g.outputs;
  // Values defined outside the nodes.
  std::unordered_map<std::string, int> defined_by;  // -1: input or initializer
  for (const auto& v : inputs) {
    TAMP_CHECK(!v.name.empty(), "a graph input has an empty name");
    TAMP_CHECK(defined_by.emplace(v.name, -1).second, "graph input '{}' is declared twice", v.name);
  }
  for (const auto& [n, t] : g.initializers) {
    defined_by.emplace(n, -1);  // an initializer may double as a graph input (default value)
  }
  std::set<std::string> node_names;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = nodes[i];
    if (!n.name.empty() && !node_names.insert(n.name).second) {
      throw Error(fmt::format("{}: another node has the same name", node_label(n, i)));
    }
    TAMP_CHECK(g.opsets.count(n.domain == "ai.onnx" ? "" : n.domain),
               "{}: domain '{}' has no opset import", node_label(n, i), n.domain);
    for (const auto& o : n.outputs) {
      if (o.empty()) continue;
      auto [it, fresh] = defined_by.emplace(o, static_cast<int>(i));
      if (!fresh) {
        throw Error(
            fmt::format("{}: output '{}' is already defined{}", node_label(n, i), o,
                        it->second < 0 ? " by a graph input or initializer" : " by another node"));
      }
    }
  }
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (const auto& in : nodes[i].inputs) {
      if (!in.empty() && !defined_by.count(in)) {
        throw Error(fmt::format("{}: input '{}' is not defined by any node, input or initializer",
                                node_label(nodes[i], i), in));
      }
    }
  }
  for (const auto& o : outputs) {
    TAMP_CHECK(defined_by.count(o.name), "graph output '{}' is not defined", o.name);
  }
  return defined_by;
}

// Kahn's algorithm: a stable topological order of the nodes, or an error naming the nodes on
// a cycle.
std::vector<int> topological_order(const std::vector<Node>& nodes,
                                   const std::unordered_map<std::string, int>& defined_by) {
  std::vector<int> pending(nodes.size(), 0);
  std::vector<std::vector<int>> readers(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    std::set<int> deps;
    for (const auto& in : nodes[i].inputs) {
      if (in.empty()) continue;
      const int p = defined_by.at(in);
      if (p >= 0) deps.insert(p);
    }
    pending[i] = static_cast<int>(deps.size());
    for (int p : deps) readers[p].push_back(static_cast<int>(i));
  }
  std::vector<int> order;
  std::vector<int> ready;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (pending[i] == 0) ready.push_back(static_cast<int>(i));
  while (!ready.empty()) {
    std::sort(ready.begin(), ready.end(),
              std::greater<>());  // keep the original order when possible
    const int i = ready.back();
    ready.pop_back();
    order.push_back(i);
    for (int r : readers[i])
      if (--pending[r] == 0) ready.push_back(r);
  }
  if (order.size() != nodes.size()) {
    std::string stuck;
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (pending[i] > 0)
        stuck +=
            (stuck.empty() ? "" : ", ") + fmt::format("'{}' ({})", nodes[i].name, nodes[i].op_type);
    }
    throw Error("the graph has a cycle through nodes " + stuck);
  }
  return order;
}

}  // namespace

void Graph::validate() {
  const std::vector<int> order = topological_order(nodes, value_definitions(*this));
  bool sorted = true;
  for (size_t i = 0; i < order.size(); ++i) sorted &= order[i] == static_cast<int>(i);
  if (!sorted) {
    std::vector<Node> reordered;
    reordered.reserve(nodes.size());
    for (int i : order) reordered.push_back(std::move(nodes[i]));
    nodes = std::move(reordered);
  }
}

}  // namespace tamp::nn
