#include <tamp/io/detail/files.h>

#include <tamp/autograd/error.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

namespace tamp::io::detail {

namespace fs = std::filesystem;

std::string read_file(const std::string& path, uint64_t max_bytes) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) throw Error(fmt::format("'{}' does not exist", path), ErrorKind::kIo);
  if (!fs::is_regular_file(st))
    throw Error(fmt::format("'{}' is not a regular file", path), ErrorKind::kIo);
  const uint64_t size = fs::file_size(path, ec);
  if (ec)
    throw Error(fmt::format("cannot read the size of '{}': {}", path, ec.message()),
                ErrorKind::kIo);
  if (size > max_bytes) {
    throw Error(fmt::format("'{}' has {} bytes, more than the {} this reader accepts", path, size,
                            max_bytes),
                ErrorKind::kInvalidInput);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(fmt::format("cannot open '{}': {}", path, std::strerror(errno)), ErrorKind::kIo);
  std::string bytes(static_cast<size_t>(size), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (in.gcount() != static_cast<std::streamsize>(size)) {
    throw Error(fmt::format("cannot read '{}' ({} of {} bytes)", path, in.gcount(), size),
                ErrorKind::kIo);
  }
  return bytes;
}

void write_file_atomically(const std::string& path, const std::string& bytes) {
  const fs::path target(path);
  std::random_device rd;
  const fs::path tmp =
      target.parent_path() / fmt::format(".{}.tmp{:08x}", target.filename().string(), rd());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) {
      throw Error(fmt::format("cannot write '{}': {}", tmp.string(), std::strerror(errno)),
                  ErrorKind::kIo);
    }
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw Error(fmt::format("cannot write '{}' (disk full?)", tmp.string()), ErrorKind::kIo);
    }
  }
  std::error_code ec;
  fs::rename(tmp, target, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw Error(fmt::format("cannot rename the temporary file to '{}': {}", path, ec.message()),
                ErrorKind::kIo);
  }
}

}  // namespace tamp::io::detail
