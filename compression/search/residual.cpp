#include <tamp/compression/pruning/targets.h>
#include <tamp/compression/search/residual.h>

#include <algorithm>
#include <set>

namespace tamp::compression::search {

namespace {

bool is_constant(const nn::Graph& g, const std::string& v) {
  return v.empty() || pruning::constant_value(g, v).defined();
}

// The nodes of F when `branch` = F(`skip`): walking up from `branch`, every path ends at
// `skip` or at a constant. Empty when a path leaves (a graph input, another activation).
std::set<int> branch_of(const nn::Graph& g, const std::string& skip, const std::string& branch) {
  std::set<int> nodes;
  std::vector<std::string> todo{branch};
  bool reads_skip = false;
  while (!todo.empty()) {
    const std::string v = todo.back();
    todo.pop_back();
    if (v == skip) {
      reads_skip = true;
      continue;
    }
    if (is_constant(g, v)) continue;
    const int p = g.producer(v);
    if (p < 0) return {};
    if (!nodes.insert(p).second) continue;
    for (const auto& in : g.nodes[p].inputs) todo.push_back(in);
  }
  return reads_skip ? nodes : std::set<int>{};
}

// F's values are read only inside F (and F(x) by the Add alone), and none is a graph output.
bool self_contained(const nn::Graph& g, const std::set<int>& nodes, const std::string& branch,
                    int add) {
  std::set<std::string> outputs;
  for (const auto& o : g.outputs) outputs.insert(o.name);
  for (int i : nodes) {
    for (const auto& v : g.nodes[i].outputs) {
      if (v.empty()) continue;
      if (outputs.count(v)) return false;
      for (int c : g.consumers(v)) {
        if (nodes.count(c) == 0 && !(c == add && v == branch)) return false;
      }
    }
  }
  return true;
}

// The initializers whose zeros make the node producing `branch` output zeros.
std::vector<std::string> zeroing_params(const nn::Graph& g, const std::string& branch) {
  const int p = g.producer(branch);
  if (p < 0) return {};
  const nn::Node& n = g.nodes[p];
  auto init = [&](size_t k) {
    return k < n.inputs.size() && g.initializers.count(n.inputs[k]) ? n.inputs[k] : "";
  };
  if (!n.domain.empty()) return {};
  if (n.op_type == "BatchNormalization") {
    if (init(1).empty() || init(2).empty()) return {};
    return {init(1), init(2)};
  }
  if (n.op_type == "Conv" || n.op_type == "Gemm") {
    if (init(1).empty() || (n.inputs.size() > 2 && !n.inputs[2].empty() && init(2).empty()))
      return {};
    std::vector<std::string> out{init(1)};
    if (!init(2).empty()) out.push_back(init(2));
    return out;
  }
  if (n.op_type == "MatMul")
    return init(1).empty() ? std::vector<std::string>{} : std::vector<std::string>{init(1)};
  if (n.op_type == "Add") {  // x @ W + b
    for (size_t k = 0; k < 2; ++k) {
      const std::string bias = n.inputs[1 - k];
      if (!g.initializers.count(bias)) continue;
      const int q = g.producer(n.inputs[k]);
      if (q < 0 || g.nodes[q].op_type != "MatMul" || !g.nodes[q].domain.empty()) continue;
      const auto w = zeroing_params(g, n.inputs[k]);
      if (w.empty()) continue;
      return {w[0], bias};
    }
  }
  return {};
}

}  // namespace

std::vector<ResidualBlock> find_residual_blocks(const nn::Graph& g) {
  std::vector<ResidualBlock> out;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const nn::Node& n = g.nodes[i];
    if (n.op_type != "Add" || !n.domain.empty() || n.inputs.size() != 2 ||
        n.inputs[0] == n.inputs[1])
      continue;
    for (int k = 0; k < 2; ++k) {
      const std::string& skip = n.inputs[static_cast<size_t>(k)];
      const std::string& branch = n.inputs[static_cast<size_t>(1 - k)];
      if (is_constant(g, skip) || is_constant(g, branch)) break;
      const std::set<int> nodes = branch_of(g, skip, branch);
      if (nodes.empty() || !self_contained(g, nodes, branch, static_cast<int>(i))) continue;
      ResidualBlock b{n.name, skip, branch, {}, zeroing_params(g, branch)};
      for (int j : nodes) b.branch_nodes.push_back(g.nodes[j].name);
      out.push_back(std::move(b));
      break;
    }
  }
  return out;
}

nn::Graph drop_residual_blocks(const nn::Graph& graph, const std::vector<std::string>& adds) {
  if (adds.empty()) return graph;
  const auto blocks = find_residual_blocks(graph);
  std::set<std::string> removed;
  std::map<std::string, std::string> replaced;  // a dropped Add's output -> its x
  for (const auto& name : adds) {
    auto it = std::find_if(blocks.begin(), blocks.end(),
                           [&](const ResidualBlock& b) { return b.add == name; });
    TAMP_CHECK(it != blocks.end(), "'{}' is not a droppable residual block's Add", name);
    removed.insert(it->branch_nodes.begin(), it->branch_nodes.end());
    removed.insert(it->add);
    replaced[graph.find_node(it->add)->outputs.at(0)] = it->skip;
  }
  auto resolve = [&](std::string v) {
    for (auto it = replaced.find(v); it != replaced.end(); it = replaced.find(v)) v = it->second;
    return v;
  };
  nn::Graph g = graph;
  g.nodes.clear();
  for (const nn::Node& n : graph.nodes) {
    if (removed.count(n.name)) continue;
    nn::Node copy = n;
    for (auto& in : copy.inputs)
      if (!in.empty()) in = resolve(in);
    g.nodes.push_back(std::move(copy));
  }
  for (const auto& o : graph.outputs) {
    if (!replaced.count(o.name)) continue;
    g.nodes.push_back({o.name + "_skip", "Identity", "", {resolve(o.name)}, {o.name}});
  }
  std::set<std::string> read;
  for (const auto& n : g.nodes) read.insert(n.inputs.begin(), n.inputs.end());
  for (auto it = g.initializers.begin(); it != g.initializers.end();) {
    it = read.count(it->first) ? std::next(it) : g.initializers.erase(it);
  }
  std::set<std::string> defined;
  for (const auto& n : g.nodes) defined.insert(n.outputs.begin(), n.outputs.end());
  std::erase_if(g.value_info, [&](const nn::ValueInfo& v) { return !defined.count(v.name); });
  g.validate();
  return g;
}

}  // namespace tamp::compression::search
