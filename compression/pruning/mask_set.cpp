#include <tamp/compression/pruning/mask_set.h>

namespace tamp::compression::pruning {

// What the gradient hook reads; the hook holds this, not the entry, so the parameter's hook
// does not keep the parameter itself alive.
struct MaskData {
  Tensor mask;          // the parameter's shape and dtype
  bool active = false;  // any zero in the mask
};

struct MaskSet::Entry {
  Variable param;
  std::shared_ptr<MaskData> data;
  int hook = -1;
};

namespace {

template <class T> void multiply(T* x, const T* m, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) x[i] *= m[i];
}

template <class T> void multiply_into(T* out, const T* x, const T* m, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * m[i];
}

bool any_zero(const Tensor& m) {
  if (m.dtype() == DType::kFloat32) {
    const float* p = m.data<float>();
    for (int64_t i = 0; i < m.numel(); ++i)
      if (p[i] == 0) return true;
    return false;
  }
  const double* p = m.data<double>();
  for (int64_t i = 0; i < m.numel(); ++i)
    if (p[i] == 0) return true;
  return false;
}

}  // namespace

void multiply_in_place(Tensor& x, const Tensor& mask) {
  TAMP_CHECK(x.shape() == mask.shape() && x.dtype() == mask.dtype(), "mask {} does not fit {}",
             describe(mask), describe(x));
  if (x.dtype() == DType::kFloat32)
    multiply(x.data<float>(), mask.data<float>(), x.numel());
  else if (x.dtype() == DType::kFloat64)
    multiply(x.data<double>(), mask.data<double>(), x.numel());
  else
    throw Error(fmt::format("masks apply to float32 or float64 tensors, not {}", describe(x)));
}

MaskSet::~MaskSet() {
  if (!leave_hooks_) release();
}

void MaskSet::add(const std::string& name, Variable param, const Tensor& mask) {
  TAMP_CHECK(param.defined(), "mask for '{}': no such parameter", name);
  TAMP_CHECK(mask.shape() == param.shape(), "mask {} for parameter '{}' {} has another shape",
             describe(mask), name, describe(param.value()));
  TAMP_CHECK(param.dtype() == DType::kFloat32 || param.dtype() == DType::kFloat64,
             "parameter '{}' is {}: only float parameters can be masked", name,
             describe(param.value()));
  TAMP_CHECK(!entries_.count(name), "parameter '{}' already has a mask", name);
  auto e = std::make_shared<Entry>();
  e->param = param;
  e->data = std::make_shared<MaskData>();
  e->data->mask = mask.to(param.dtype());
  e->data->active = any_zero(e->data->mask);
  e->hook = param.add_hook([d = e->data](const Tensor& g) -> Tensor {
    if (!d->active || g.shape() != d->mask.shape() || g.dtype() != d->mask.dtype()) return g;
    Tensor out = Tensor::empty(g.shape(), g.dtype());
    if (g.dtype() == DType::kFloat32) {
      multiply_into(out.data<float>(), g.data<float>(), d->mask.data<float>(), g.numel());
    } else {
      multiply_into(out.data<double>(), g.data<double>(), d->mask.data<double>(), g.numel());
    }
    return out;
  });
  entries_[name] = std::move(e);
}

Tensor& MaskSet::mask(const std::string& name) {
  auto it = entries_.find(name);
  TAMP_CHECK(it != entries_.end(), "no mask for '{}'", name);
  return it->second->data->mask;
}

const Variable& MaskSet::param(const std::string& name) const {
  auto it = entries_.find(name);
  TAMP_CHECK(it != entries_.end(), "no mask for '{}'", name);
  return it->second->param;
}

void MaskSet::refresh(const std::string& name) {
  auto it = entries_.find(name);
  TAMP_CHECK(it != entries_.end(), "no mask for '{}'", name);
  it->second->data->active = any_zero(it->second->data->mask);
}

void MaskSet::apply_to_values() {
  for (auto& [name, e] : entries_) {
    if (!e->data->active) continue;
    Tensor v = e->param.value();
    multiply_in_place(v, e->data->mask);
  }
}

void MaskSet::apply_to_grads() {
  for (auto& [name, e] : entries_) {
    if (!e->data->active || !e->param.grad().defined()) continue;
    Tensor g = e->param.grad();
    if (g.shape() == e->data->mask.shape()) multiply_in_place(g, e->data->mask);
  }
}

void MaskSet::release() {
  for (auto& [name, e] : entries_) {
    if (e->hook >= 0) e->param.remove_hook(e->hook);
    e->hook = -1;
  }
  entries_.clear();
}

std::map<std::string, Tensor> MaskSet::masks() const {
  std::map<std::string, Tensor> out;
  for (const auto& [name, e] : entries_) out[name] = e->data->mask;
  return out;
}

int64_t MaskSet::pruned(const std::string& name) const {
  auto it = entries_.find(name);
  TAMP_CHECK(it != entries_.end(), "no mask for '{}'", name);
  const Tensor m = it->second->data->mask.to(DType::kFloat32);
  const float* p = m.data<float>();
  int64_t n = 0;
  for (int64_t i = 0; i < m.numel(); ++i) n += p[i] == 0;
  return n;
}

}  // namespace tamp::compression::pruning
