#include <tamp/nn/optimizer.h>

#include <cmath>
#include <set>

namespace tamp::nn {

Optimizer::Optimizer(NamedParameters params, double lr)
    : params_(std::move(params)), states_(params_.size()), lr_(lr) {
  set_lr(lr);
  std::set<std::string> names;
  for (const auto& [name, v] : params_) {
    TAMP_CHECK(v.defined(), "optimizer: parameter '{}' is undefined", name);
    TAMP_CHECK(is_floating(v.dtype()), "optimizer: parameter '{}' is {}, not floating point", name,
               describe(v.value()));
    TAMP_CHECK(names.insert(name).second, "optimizer: parameter name '{}' appears twice", name);
  }
}

void Optimizer::set_lr(double lr) {
  TAMP_CHECK(lr >= 0 && std::isfinite(lr), "optimizer: learning rate {} must be finite and >= 0",
             lr);
  lr_ = lr;
}

void Optimizer::step() {
  if (states_.empty()) return;
  const size_t slot_count = slot_names().size();
  for (size_t i = 0; i < params_.size(); ++i) {
    const Variable& v = params_[i].second;
    if (!v.requires_grad() || !v.grad().defined()) continue;
    const Tensor& g = v.grad();
    Tensor value = v.value();
    TAMP_CHECK(g.shape() == value.shape() && g.dtype() == value.dtype(),
               "optimizer: gradient {} of '{}' does not match its value {}", describe(g),
               params_[i].first, describe(value));
    ParamState& st = states_[i];
    st.slots.resize(slot_count);
    ++st.step;
    update(value, g, st);
  }
}

void Optimizer::zero_grad() {
  for (auto& [name, v] : params_) v.zero_grad();
}

std::map<std::string, Tensor> Optimizer::state() const {
  std::map<std::string, Tensor> out;
  const auto names = slot_names();
  for (size_t i = 0; i < params_.size(); ++i) {
    const ParamState& st = states_[i];
    for (size_t k = 0; k < st.slots.size(); ++k) {
      if (st.slots[k].defined()) out.emplace(params_[i].first + "." + names[k], st.slots[k]);
    }
    if (exports_step() && st.step > 0) {
      out.emplace(params_[i].first + ".step",
                  Tensor::scalar(static_cast<double>(st.step), DType::kInt64));
    }
  }
  return out;
}

void Optimizer::load_state(const std::map<std::string, Tensor>& state) {
  const auto names = slot_names();
  std::vector<ParamState> fresh(params_.size());
  size_t used = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string& pname = params_[i].first;
    const Tensor& value = params_[i].second.value();
    ParamState& st = fresh[i];
    st.slots.resize(names.size());
    for (size_t k = 0; k < names.size(); ++k) {
      auto it = state.find(pname + "." + names[k]);
      if (it == state.end()) continue;
      TAMP_CHECK(it->second.shape() == value.shape() && it->second.dtype() == value.dtype(),
                 "optimizer state '{}' is {} but the parameter is {}", it->first,
                 describe(it->second), describe(value));
      st.slots[k] = it->second.clone();
      ++used;
    }
    if (auto it = state.find(pname + ".step"); exports_step() && it != state.end()) {
      TAMP_CHECK(it->second.numel() == 1 && it->second.item() >= 0,
                 "optimizer state '{}' must be a non-negative scalar, got {}", it->first,
                 describe(it->second));
      st.step = static_cast<int64_t>(it->second.item());
      ++used;
    }
  }
  if (used != state.size()) {
    for (const auto& [key, t] : state) {
      bool known = false;
      for (size_t i = 0; i < params_.size() && !known; ++i) {
        const std::string& pname = params_[i].first;
        if (key.size() <= pname.size() || key.compare(0, pname.size(), pname) != 0 ||
            key[pname.size()] != '.')
          continue;
        const std::string slot = key.substr(pname.size() + 1);
        known = (exports_step() && slot == "step") ||
                std::find(names.begin(), names.end(), slot) != names.end();
      }
      TAMP_CHECK(known, "optimizer state '{}' matches no parameter slot of this optimizer", key);
    }
  }
  states_ = std::move(fresh);
}

}  // namespace tamp::nn
