// ONNX node attributes, protobuf-free. Floats are float32 as in ONNX, so a round trip through
// export is exact.
//
//   Attributes a;
//   a.set("kernel_shape", std::vector<int64_t>{3, 3});
//   a.set("alpha", 0.01f);
//   auto k = a.ints("kernel_shape");          // {3, 3}
//   float alpha = a.f("alpha", 0.01f);        // with a default when absent
#pragma once

#include <tamp/autograd/tensor.h>

#include <map>
#include <string>
#include <variant>
#include <vector>

namespace tamp {

using AttributeValue = std::variant<int64_t, float, std::string, std::vector<int64_t>,
                                    std::vector<float>, std::vector<std::string>, Tensor>;

class Attributes {
 public:
  Attributes() = default;
  Attributes(std::initializer_list<std::pair<const std::string, AttributeValue>> init)
      : values_(init) {}

  bool has(const std::string& name) const { return values_.count(name) != 0; }
  void set(const std::string& name, AttributeValue value) { values_[name] = std::move(value); }
  void erase(const std::string& name) { values_.erase(name); }

  // Typed getters throw naming the attribute when it has another type; the one-argument
  // forms throw when it is absent.
  int64_t i(const std::string& name) const;
  int64_t i(const std::string& name, int64_t fallback) const;
  float f(const std::string& name) const;
  float f(const std::string& name, float fallback) const;
  const std::string& s(const std::string& name) const;
  std::string s(const std::string& name, const std::string& fallback) const;
  const std::vector<int64_t>& ints(const std::string& name) const;
  std::vector<int64_t> ints(const std::string& name, std::vector<int64_t> fallback) const;
  const std::vector<float>& floats(const std::string& name) const;
  std::vector<float> floats(const std::string& name, std::vector<float> fallback) const;
  const std::vector<std::string>& strings(const std::string& name) const;
  const Tensor& t(const std::string& name) const;

  const std::map<std::string, AttributeValue>& values() const { return values_; }
  bool empty() const { return values_.empty(); }

 private:
  template <class T> const T& get(const std::string& name, const char* type) const;

  std::map<std::string, AttributeValue> values_;
};

}  // namespace tamp
