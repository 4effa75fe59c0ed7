#include "io/graph_compare.h"

#include <cstring>

namespace tamp::test {

bool same_tensor(const Tensor& a, const Tensor& b) {
  if (a.defined() != b.defined()) return false;
  if (!a.defined()) return true;
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

namespace {

bool same_value(const AttributeValue& a, const AttributeValue& b) {
  if (a.index() != b.index()) return false;
  if (const auto* t = std::get_if<Tensor>(&a)) return same_tensor(*t, std::get<Tensor>(b));
  if (const auto* f = std::get_if<float>(&a)) {  // bitwise, so NaN attributes compare equal
    const float g = std::get<float>(b);
    return std::memcmp(f, &g, sizeof(float)) == 0;
  }
  return std::visit(
      [&](const auto& x) {
        using V = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<V, Tensor>)
          return false;  // handled above
        else
          return x == std::get<V>(b);
      },
      a);
}

std::string describe_info(const nn::ValueInfo& v) {
  std::string s = fmt::format("{}: {} has_shape={} [", v.name, dtype_name(v.dtype), v.has_shape);
  for (const auto& d : v.shape)
    s += d.known() ? fmt::format("{} ", d.value) : fmt::format("'{}' ", d.symbol);
  return s + "]";
}

std::string infos_difference(const char* what, const std::vector<nn::ValueInfo>& a,
                             const std::vector<nn::ValueInfo>& b) {
  if (a.size() != b.size()) return fmt::format("{}: {} vs {} entries", what, a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    if (!(a[i] == b[i]))
      return fmt::format("{} #{}: {} vs {}", what, i, describe_info(a[i]), describe_info(b[i]));
  }
  return {};
}

}  // namespace

std::string graph_difference(const nn::Graph& a, const nn::Graph& b) {
  if (a.name != b.name) return fmt::format("name '{}' vs '{}'", a.name, b.name);
  if (a.ir_version != b.ir_version)
    return fmt::format("ir_version {} vs {}", a.ir_version, b.ir_version);
  if (a.producer_name != b.producer_name || a.producer_version != b.producer_version)
    return "producer differs";
  if (a.doc_string != b.doc_string) return "doc_string differs";
  if (a.metadata != b.metadata) return "metadata differs";
  if (a.opsets != b.opsets) return "opset imports differ";
  for (auto d : {infos_difference("input", a.inputs, b.inputs),
                 infos_difference("output", a.outputs, b.outputs),
                 infos_difference("value_info", a.value_info, b.value_info)}) {
    if (!d.empty()) return d;
  }
  if (a.initializers.size() != b.initializers.size()) {
    return fmt::format("{} vs {} initializers", a.initializers.size(), b.initializers.size());
  }
  for (const auto& [name, t] : a.initializers) {
    auto it = b.initializers.find(name);
    if (it == b.initializers.end()) return fmt::format("initializer '{}' missing", name);
    if (!same_tensor(t, it->second)) return fmt::format("initializer '{}' differs", name);
  }
  if (a.nodes.size() != b.nodes.size())
    return fmt::format("{} vs {} nodes", a.nodes.size(), b.nodes.size());
  for (size_t i = 0; i < a.nodes.size(); ++i) {
    const nn::Node& x = a.nodes[i];
    const nn::Node& y = b.nodes[i];
    if (x.name != y.name || x.op_type != y.op_type || x.domain != y.domain) {
      return fmt::format("node #{}: '{}' {} '{}' vs '{}' {} '{}'", i, x.name, x.op_type, x.domain,
                         y.name, y.op_type, y.domain);
    }
    if (x.inputs != y.inputs || x.outputs != y.outputs)
      return fmt::format("node #{} ({}): inputs/outputs differ", i, x.op_type);
    const auto& xa = x.attrs->values();
    const auto& ya = y.attrs->values();
    if (xa.size() != ya.size())
      return fmt::format("node #{} ({}): {} vs {} attributes", i, x.op_type, xa.size(), ya.size());
    for (const auto& [name, v] : xa) {
      auto it = ya.find(name);
      if (it == ya.end() || !same_value(v, it->second)) {
        return fmt::format("node #{} ({}): attribute '{}' differs", i, x.op_type, name);
      }
    }
  }
  return {};
}

}  // namespace tamp::test
