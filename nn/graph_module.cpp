#include <tamp/autograd/apply.h>
#include <tamp/autograd/tensor_math.h>
#include <tamp/nn/graph_module.h>

#include <regex>
#include <set>

namespace tamp::nn {

namespace {

std::string node_label(const Node& n) { return fmt::format("node '{}' ({})", n.name, n.op_type); }

void check_input(const ValueInfo& info, const Tensor& t) {
  TAMP_CHECK(t.dtype() == info.dtype, "input '{}' must be {}, got {}", info.name,
             dtype_name(info.dtype), describe(t));
  if (!info.has_shape) return;
  bool ok = static_cast<int>(info.shape.size()) == t.rank();
  for (size_t i = 0; ok && i < info.shape.size(); ++i) {
    ok = !info.shape[i].known() || info.shape[i].value == t.shape()[i];
  }
  if (!ok) {
    std::string want = "[";
    for (size_t i = 0; i < info.shape.size(); ++i) {
      if (i) want += ", ";
      want += info.shape[i].known() ? std::to_string(info.shape[i].value)
                                    : (info.shape[i].symbol.empty() ? "?" : info.shape[i].symbol);
    }
    throw Error(
        fmt::format("input '{}' must have shape {}], got {}", info.name, want, describe(t)));
  }
}

// A value a node or the caller reads. Missing only when its producer did not return it: an
// optional output the op leaves out (e.g. Dropout's mask), which nothing may then read.
const Variable& computed(const std::map<std::string, Variable>& values, const std::string& name,
                         const Graph& g) {
  auto it = values.find(name);
  if (it != values.end()) return it->second;
  const int p = g.producer(name);
  throw Error(fmt::format("value '{}' is read but was never computed: {} does not return it", name,
                          p >= 0 ? node_label(g.nodes[p]) : "no node"),
              ErrorKind::kInvalidInput);
}

}  // namespace

GraphModule::GraphModule(Graph graph, const OpRegistry& registry)
    : graph_(std::move(graph)), registry_(&registry) {
  build(registry, {});
}

void GraphModule::set_graph(Graph graph) {
  std::map<std::string, Variable> previous = initial_;
  graph_ = std::move(graph);
  build(*registry_, previous);
}

GraphModule::Role GraphModule::role_of(const std::string& init) const {
  const Tensor& t = graph_.initializers.at(init);
  if (!is_floating(t.dtype())) return Role::kConstant;
  if (auto it = graph_.metadata.find(kConstantsKey); it != graph_.metadata.end()) {
    const std::string& list = it->second;
    for (size_t at = 0; at <= list.size();) {
      const size_t comma = std::min(list.find(',', at), list.size());
      if (list.compare(at, comma - at, init) == 0) return Role::kConstant;
      at = comma + 1;
    }
  }
  bool param = false;
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    const Node& n = graph_.nodes[i];
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      if (n.inputs[k] != init) continue;
      for (const auto& [out, in] : ops_[i]->state_updates) {
        if (in == static_cast<int>(k)) return Role::kBuffer;
      }
      param = param || ops_[i]->differentiates_input(static_cast<int>(k));
    }
  }
  return param ? Role::kParameter : Role::kConstant;
}

void GraphModule::build(const OpRegistry& registry,
                        const std::map<std::string, Variable>& previous) {
  graph_.validate();
  ops_.assign(graph_.nodes.size(), nullptr);
  std::vector<std::string> missing;
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    const Node& n = graph_.nodes[i];
    const int64_t opset = graph_.opset(n.domain);
    ops_[i] = registry.find(n.domain, n.op_type, static_cast<int>(opset));
    if (!ops_[i]) {
      missing.push_back(
          fmt::format("node '{}': {} (domain {}, opset {}): {}", n.name, n.op_type,
                      n.domain.empty() ? "ai.onnx" : n.domain, opset,
                      registry.why_missing(n.domain, n.op_type, static_cast<int>(opset))));
    }
  }
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += "\n  " + m;
    throw Error(fmt::format("{} node(s) use ops tamp does not support:{}", missing.size(), list),
                ErrorKind::kUnsupported, "`tamp inspect` lists the supported ops");
  }

  clear_parameters_and_buffers();
  initial_.clear();
  for (const auto& [name, t] : graph_.initializers) {
    const Role role = role_of(name);
    Variable v;
    auto it = previous.find(name);
    const bool kept =
        it != previous.end() && it->second.shape() == t.shape() && it->second.dtype() == t.dtype();
    if (kept) {
      v = it->second;
      v.set_value(t);
    } else {
      v = Variable(t, false).set_name(name);
    }
    if (role == Role::kParameter) {
      // A parameter that changed shape (channels removed) stays trainable or frozen as it was.
      if (!kept) v.set_requires_grad(it == previous.end() || it->second.requires_grad());
      adopt_parameter(name, v);
    } else {
      if (v.requires_grad()) v.set_requires_grad(false);
      if (role == Role::kBuffer) adopt_buffer(name, v);
    }
    initial_[name] = v;
  }

  last_use_.clear();
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    for (const auto& in : graph_.nodes[i].inputs) last_use_[in] = static_cast<int>(i);
  }
}

std::map<std::string, Variable> GraphModule::forward(const std::map<std::string, Variable>& inputs,
                                                     const std::vector<std::string>& outputs) {
  std::vector<std::string> wanted = outputs;
  if (wanted.empty())
    for (const auto& o : graph_.outputs) wanted.push_back(o.name);
  const std::set<std::string> keep(wanted.begin(), wanted.end());

  std::map<std::string, Variable> values;
  for (const auto& info : graph_.inputs) {
    auto it = inputs.find(info.name);
    if (it == inputs.end()) {
      TAMP_CHECK(graph_.initializers.count(info.name), "graph input '{}' was not given", info.name);
      continue;  // an initializer provides the default
    }
    check_input(info, it->second.value());
    values[info.name] = it->second;
  }
  for (const auto& [name, v] : inputs) {
    TAMP_CHECK(values.count(name), "'{}' is not an input of the graph", name);
  }
  for (const auto& [name, v] : initial_) values.emplace(name, v);
  for (const auto& w : wanted) {
    TAMP_CHECK(values.count(w) || graph_.producer(w) >= 0, "'{}' is not a value of the graph", w);
  }

  CallOptions base{static_cast<int>(graph_.opset("")), is_training(), rng_};
  base.integer_arithmetic = integer_arithmetic_;
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    const Node& n = graph_.nodes[i];
    std::vector<Variable> args;
    args.reserve(n.inputs.size());
    for (const auto& in : n.inputs)
      args.push_back(in.empty() ? Variable() : computed(values, in, graph_));
    CallOptions opts = base;
    opts.opset = static_cast<int>(graph_.opset(n.domain));
    opts.num_outputs = static_cast<int>(n.outputs.size());
    std::vector<Variable> outs;
    TAMP_WITH_CONTEXT(node_label(n), outs = apply(*ops_[i], args, n.attrs, opts));
    if (is_training()) {
      for (const auto& [out, in] : ops_[i]->state_updates) {
        if (out < static_cast<int>(outs.size()) && in < static_cast<int>(n.inputs.size())) {
          auto it = initial_.find(n.inputs[in]);
          if (it != initial_.end()) {
            Tensor dst = it->second.value();
            dst.copy_from(outs[out].value());
          }
        }
      }
    }
    for (size_t k = 0; k < n.outputs.size() && k < outs.size(); ++k) {
      if (n.outputs[k].empty()) continue;
      if (check_finite_ && !all_finite(outs[k].value())) {
        throw Error(fmt::format("{} produced a non-finite value in output '{}'", node_label(n),
                                n.outputs[k]),
                    ErrorKind::kNumerical);
      }
      values[n.outputs[k]] = std::move(outs[k]);
    }
    // Drop what no later node reads (the tape keeps what backward needs).
    for (const auto& in : n.inputs) {
      auto lu = last_use_.find(in);
      if (lu != last_use_.end() && lu->second == static_cast<int>(i) && !keep.count(in) &&
          !initial_.count(in)) {
        values.erase(in);
      }
    }
  }
  std::map<std::string, Variable> result;
  for (const auto& w : wanted) result[w] = computed(values, w, graph_);
  return result;
}

Variable GraphModule::forward(const Variable& input) {
  TAMP_CHECK(
      graph_.inputs.size() == 1 && graph_.outputs.size() == 1,
      "forward(Variable) needs a graph with one input and one output, this one has {} and {}",
      graph_.inputs.size(), graph_.outputs.size());
  return forward({{graph_.inputs[0].name, input}}).at(graph_.outputs[0].name);
}

Graph GraphModule::export_graph() const {
  Graph g = graph_;
  for (const auto& [name, v] : initial_) g.initializers[name] = v.value().clone();
  return g;
}

std::vector<std::string> GraphModule::parameter_names_matching(const std::string& pattern) const {
  std::regex re;
  try {
    re = std::regex(pattern);
  } catch (const std::regex_error& e) {
    throw Error(fmt::format("'{}' is not a valid regular expression: {}", pattern, e.what()));
  }
  std::vector<std::string> out;
  for (const auto& [n, v] : named_parameters())
    if (std::regex_match(n, re)) out.push_back(n);
  return out;
}

std::vector<std::string> GraphModule::parameter_names_of_op(const std::string& op_type) const {
  std::set<std::string> params;
  for (const auto& [n, v] : named_parameters()) params.insert(n);
  std::vector<std::string> out;
  for (const auto& node : graph_.nodes) {
    if (node.op_type != op_type) continue;
    for (const auto& in : node.inputs) {
      if (params.count(in) && std::find(out.begin(), out.end(), in) == out.end()) out.push_back(in);
    }
  }
  return out;
}

Variable GraphModule::parameter(const std::string& name) const {
  for (const auto& [n, v] : named_parameters())
    if (n == name) return v;
  throw Error(fmt::format("the model has no parameter '{}'", name));
}

int GraphModule::freeze(const std::string& pattern, bool frozen) {
  int count = 0;
  for (const auto& n : parameter_names_matching(pattern)) {
    Variable v = parameter(n);
    v.set_requires_grad(!frozen);
    if (frozen) v.zero_grad();
    ++count;
  }
  return count;
}

}  // namespace tamp::nn
