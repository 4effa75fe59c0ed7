#include <tamp/io/detail/checkpoint_seal.h>

#include <tamp/autograd/error.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <vector>

namespace tamp::io::detail {

namespace {

// The layout is in checkpoint_seal.h: magic at 0, version at 16, CRC-32 at 20, length at 24.
constexpr std::array<char, 16> kSealMagic{'t', 'a', 'm', 'p', '-', 'c', 'h', 'e',
                                          'c', 'k', 'p', 'o', 'i', 'n', 't', '\n'};
constexpr uint32_t kSealVersion = 1;
constexpr std::array<char, 8> kHdf5Signature{'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};

struct Seal {
  uint32_t version = 0, crc = 0;
  uint64_t length = 0;
};

template <class U> void put_le(char* at, U value) {
  for (size_t i = 0; i < sizeof(U); ++i) at[i] = static_cast<char>((value >> (8 * i)) & 0xff);
}

template <class U> U get_le(const char* at) {
  U value = 0;
  for (size_t i = 0; i < sizeof(U); ++i)
    value |= static_cast<U>(static_cast<unsigned char>(at[i])) << (8 * i);
  return value;
}

// CRC-32 of the bytes from the end of the user block to the end of the stream.
uint32_t crc_after_block(std::istream& in, const std::string& path) {
  in.seekg(static_cast<std::streamoff>(kSealBytes));
  std::vector<char> buffer(size_t{1} << 20);
  uLong crc = crc32(0L, Z_NULL, 0);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const std::streamsize got = in.gcount();
    if (got > 0)
      crc = crc32(crc, reinterpret_cast<const Bytef*>(buffer.data()), static_cast<uInt>(got));
  }
  if (!in.eof()) throw Error(fmt::format("cannot read checkpoint '{}'", path), ErrorKind::kIo);
  return static_cast<uint32_t>(crc);
}

}  // namespace

void seal_checkpoint(const std::string& path) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  if (!f) throw Error(fmt::format("cannot reopen '{}' to seal it", path), ErrorKind::kIo);
  std::array<char, kSealBytes> block{};
  std::copy(kSealMagic.begin(), kSealMagic.end(), block.begin());
  put_le<uint32_t>(block.data() + 16, kSealVersion);
  put_le<uint32_t>(block.data() + 20, crc_after_block(f, path));
  put_le<uint64_t>(block.data() + 24, std::filesystem::file_size(path));
  f.clear();
  f.seekp(0);
  f.write(block.data(), block.size());
  f.flush();
  if (!f) throw Error(fmt::format("cannot write the seal of '{}'", path), ErrorKind::kIo);
}

void check_checkpoint_seal(const std::string& path, uint64_t file_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot open checkpoint '{}'", path), ErrorKind::kIo);
  std::array<char, kSealBytes> block{};
  in.read(block.data(), block.size());
  const auto starts_with = [&](const auto& magic) {
    return std::equal(magic.begin(), magic.end(), block.begin());
  };
  if (static_cast<uint64_t>(in.gcount()) < kSealBytes || !starts_with(kSealMagic)) {
    throw Error(
        starts_with(kHdf5Signature)
            ? fmt::format("checkpoint '{}' is an HDF5 file without tamp's seal: tamp did not write "
                          "it, or a "
                          "tamp from before checkpoints were sealed did (re-create it)",
                          path)
            : fmt::format("checkpoint '{}' is not a tamp checkpoint (no tamp seal; {} bytes)", path,
                          file_bytes),
        ErrorKind::kInvalidInput);
  }
  TAMP_CHECK(std::all_of(block.begin() + 32, block.end(), [](char b) { return b == 0; }),
             "checkpoint '{}' is damaged: its seal's reserved bytes are not zero", path);
  Seal seal{get_le<uint32_t>(block.data() + 16), get_le<uint32_t>(block.data() + 20),
            get_le<uint64_t>(block.data() + 24)};
  TAMP_CHECK(seal.version == kSealVersion,
             "checkpoint '{}' has seal version {}; this tamp reads {}", path, seal.version,
             kSealVersion);
  TAMP_CHECK(seal.length == file_bytes,
             "checkpoint '{}' is {} bytes but was written with {}: it was truncated or "
             "appended to",
             path, file_bytes, seal.length);
  const uint32_t crc = crc_after_block(in, path);
  TAMP_CHECK(crc == seal.crc,
             "checkpoint '{}' is damaged: the CRC-32 of its contents is {:08x}, written as {:08x}",
             path, crc, seal.crc);
}

}  // namespace tamp::io::detail
