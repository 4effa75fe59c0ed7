// Shared by the fuzz targets: readers that take a path get the fuzzer's bytes through a
// file of this process (overwritten on every input).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace tamp::fuzz {

struct RemovedAtExit {
  std::string path;
  ~RemovedAtExit() { std::remove(path.c_str()); }
};

inline std::string write_input_file(const uint8_t* data, size_t size, const std::string& suffix) {
  static const RemovedAtExit file{
      (std::filesystem::temp_directory_path() / ("tamp_fuzz_" + std::to_string(getpid()) + suffix))
          .string()};
  const std::string& path = file.path;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();  // the fuzzer's own environment is broken, not the reader
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

}  // namespace tamp::fuzz
