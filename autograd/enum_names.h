// The names of an enum's values, for the `x_name` / `x_from_name` pairs of options, recipes
// and command lines:
//   constexpr EnumName<ExportTarget> kTargetNames[] = {{ExportTarget::kVnni, "vnni"}, ...};
//   name_of(kTargetNames, ExportTarget::kVnni) == "vnni";
//   value_named(kTargetNames, "vnni", "export target") == ExportTarget::kVnni;
#pragma once

#include <tamp/autograd/error.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace tamp {

template <class E> struct EnumName {
  E value;
  std::string_view name;
};

// The name of `value`, or "unknown" when the table does not list it.
template <class E, size_t N> std::string_view name_of(const EnumName<E> (&names)[N], E value) {
  for (const auto& e : names)
    if (e.value == value) return e.name;
  return "unknown";
}

// The value named `name`; otherwise throws kInvalidInput: "unknown WHAT 'name' (a, b, c)".
template <class E, size_t N>
E value_named(const EnumName<E> (&names)[N], std::string_view name, std::string_view what) {
  std::string all;
  for (const auto& e : names) {
    if (e.name == name) return e.value;
    all += (all.empty() ? "" : ", ") + std::string(e.name);
  }
  throw Error(fmt::format("unknown {} '{}' ({})", what, name, all), ErrorKind::kInvalidInput);
}

}  // namespace tamp
