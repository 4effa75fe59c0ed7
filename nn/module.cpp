#include <tamp/nn/module.h>

#include <set>

namespace tamp::nn {

Variable Module::register_parameter(std::string name, Tensor value) {
  Variable v(std::move(value), true);
  v.set_name(name);
  params_.emplace_back(std::move(name), v);
  return v;
}

Variable Module::register_buffer(std::string name, Tensor value) {
  Variable v(std::move(value), false);
  v.set_name(name);
  buffers_.emplace_back(std::move(name), v);
  return v;
}

void Module::collect(const std::string& prefix, bool buffers,
                     std::vector<std::pair<std::string, Variable>>& out) const {
  for (const auto& [n, v] : buffers ? buffers_ : params_) out.emplace_back(prefix + n, v);
  for (const auto& [n, child] : children_) child->collect(prefix + n + ".", buffers, out);
}

std::vector<std::pair<std::string, Variable>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Variable>> out;
  collect("", false, out);
  return out;
}

std::vector<Variable> Module::parameters() const {
  std::vector<Variable> out;
  for (auto& [n, v] : named_parameters()) out.push_back(v);
  return out;
}

std::vector<std::pair<std::string, Variable>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Variable>> out;
  collect("", true, out);
  return out;
}

std::map<std::string, Tensor> Module::state_dict() const {
  std::map<std::string, Tensor> out;
  for (const auto& [n, v] : named_parameters()) out.emplace(n, v.value());
  for (const auto& [n, v] : named_buffers()) out.emplace(n, v.value());
  return out;
}

void Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
  auto entries = named_parameters();
  auto bufs = named_buffers();
  entries.insert(entries.end(), bufs.begin(), bufs.end());
  std::set<std::string> used;
  for (auto& [n, v] : entries) {
    auto it = state.find(n);
    if (it == state.end()) {
      TAMP_CHECK(!strict, "load_state_dict: '{}' is missing from the state", n);
      continue;
    }
    TAMP_CHECK(it->second.shape() == v.shape() && it->second.dtype() == v.dtype(),
               "load_state_dict: '{}' is {} in the state but {} in the module", n,
               describe(it->second), describe(v.value()));
    Tensor dst = v.value();
    dst.copy_from(it->second);
    used.insert(n);
  }
  if (strict) {
    for (const auto& [n, t] : state) {
      TAMP_CHECK(used.count(n), "load_state_dict: '{}' matches no parameter or buffer", n);
    }
  }
}

void Module::train(bool on) {
  training_ = on;
  on_train(on);
  for (auto& [n, child] : children_) child->train(on);
}

void Module::zero_grad() {
  for (auto& v : parameters()) v.zero_grad();
}

}  // namespace tamp::nn
