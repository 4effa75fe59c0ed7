// Internal to io/: whole-file reads with size limits and atomic writes (temporary file in
// the same folder, then rename, so a kill never leaves a half-written file behind).
#pragma once

#include <cstdint>
#include <string>

namespace tamp::io::detail {

// Reads a whole file; throws kIo when it cannot be opened or is larger than `max_bytes`.
std::string read_file(const std::string& path, uint64_t max_bytes);
// Writes `bytes` to `path` through a temporary file renamed into place.
void write_file_atomically(const std::string& path, const std::string& bytes);

}  // namespace tamp::io::detail
