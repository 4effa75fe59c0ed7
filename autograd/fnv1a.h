// FNV-1a, 64 bits: a hash that is the same in every build and on every platform (unlike
// std::hash), for fingerprints written to files and compared later or across processes —
// recipe hashes in checkpoints, the tuning history's model and data, parameter checks
// between ranks.
//
//   Fnv1a h;
//   h.add(name).add(t.raw_data(), t.nbytes());
//   std::string key = h.hex();        // 16 hex digits
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tamp {

class Fnv1a {
 public:
  Fnv1a& add(const void* data, size_t bytes) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < bytes; ++i) h_ = (h_ ^ p[i]) * 1099511628211ull;
    return *this;
  }
  Fnv1a& add(std::string_view s) { return add(s.data(), s.size()); }
  uint64_t value() const { return h_; }
  std::string hex() const { return fmt::format("{:016x}", h_); }

 private:
  uint64_t h_ = 1469598103934665603ull;
};

}  // namespace tamp
