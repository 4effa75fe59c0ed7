#include <tamp/autograd/attributes.h>

namespace tamp {

template <class T> const T& Attributes::get(const std::string& name, const char* type) const {
  auto it = values_.find(name);
  if (it == values_.end()) throw Error(fmt::format("required attribute '{}' is missing", name));
  const T* v = std::get_if<T>(&it->second);
  if (!v) throw Error(fmt::format("attribute '{}' is not of type {}", name, type));
  return *v;
}

int64_t Attributes::i(const std::string& name) const { return get<int64_t>(name, "int"); }
int64_t Attributes::i(const std::string& name, int64_t fallback) const {
  return has(name) ? i(name) : fallback;
}
float Attributes::f(const std::string& name) const { return get<float>(name, "float"); }
float Attributes::f(const std::string& name, float fallback) const {
  return has(name) ? f(name) : fallback;
}
const std::string& Attributes::s(const std::string& name) const {
  return get<std::string>(name, "string");
}
std::string Attributes::s(const std::string& name, const std::string& fallback) const {
  return has(name) ? s(name) : fallback;
}
const std::vector<int64_t>& Attributes::ints(const std::string& name) const {
  return get<std::vector<int64_t>>(name, "ints");
}
std::vector<int64_t> Attributes::ints(const std::string& name,
                                      std::vector<int64_t> fallback) const {
  return has(name) ? ints(name) : fallback;
}
const std::vector<float>& Attributes::floats(const std::string& name) const {
  return get<std::vector<float>>(name, "floats");
}
std::vector<float> Attributes::floats(const std::string& name, std::vector<float> fallback) const {
  return has(name) ? floats(name) : fallback;
}
const std::vector<std::string>& Attributes::strings(const std::string& name) const {
  return get<std::vector<std::string>>(name, "strings");
}
const Tensor& Attributes::t(const std::string& name) const { return get<Tensor>(name, "tensor"); }

}  // namespace tamp
