#include <tamp/io/idx.h>

#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

namespace tamp::io {

namespace {

Error io_error(const std::string& path, const std::string& what) {
  return Error(fmt::format("IDX file '{}': {}", path, what), ErrorKind::kIo);
}

// The whole decompressed content (zlib reads uncompressed files as they are). Grows as it
// reads, so a header that lies about its size never triggers a huge allocation.
std::vector<unsigned char> read_all(const std::string& path) {
  std::unique_ptr<gzFile_s, int (*)(gzFile)> f(gzopen(path.c_str(), "rb"), &gzclose);
  if (!f) throw io_error(path, "cannot be opened");
  gzbuffer(f.get(), 1 << 17);
  std::vector<unsigned char> out;
  constexpr size_t kChunk = 1 << 20;
  for (;;) {
    const size_t used = out.size();
    out.resize(used + kChunk);
    const int got = gzread(f.get(), out.data() + used, static_cast<unsigned>(kChunk));
    if (got < 0) {
      int code = 0;
      const char* msg = gzerror(f.get(), &code);
      throw io_error(path,
                     fmt::format("corrupt or truncated gzip data ({})", msg ? msg : "unknown"));
    }
    out.resize(used + static_cast<size_t>(got));
    if (static_cast<size_t>(got) < kChunk) break;
  }
  // gzread reports a stream cut short as a clean end of file; gzerror tells it apart.
  int code = 0;
  gzerror(f.get(), &code);
  if (code != Z_OK && code != Z_STREAM_END) throw io_error(path, "corrupt or truncated gzip data");
  return out;
}

uint32_t big_endian32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

DType idx_dtype(unsigned char code, const std::string& path) {
  switch (code) {
    case 0x08:
      return DType::kUInt8;
    case 0x09:
      return DType::kInt8;
    case 0x0B:
      return DType::kInt16;
    case 0x0C:
      return DType::kInt32;
    case 0x0D:
      return DType::kFloat32;
    case 0x0E:
      return DType::kFloat64;
    default:
      throw io_error(path,
                     fmt::format("unknown data type code 0x{:02X} in the magic number", code));
  }
}

// `path` + ".gz" if it exists, else `path`; a missing file names both and the package.
std::string find_file(const std::string& dir, const std::string& name) {
  const std::filesystem::path base = std::filesystem::path(dir) / name;
  const std::string gz = base.string() + ".gz";
  if (std::filesystem::exists(gz)) return gz;
  if (std::filesystem::exists(base)) return base.string();
  throw Error(fmt::format("Fashion-MNIST file '{}' not found (nor '{}')", gz, base.string()),
              ErrorKind::kIo,
              "install the Debian package dataset-fashion-mnist (it puts the files in "
              "/usr/share/datasets/fashion-mnist), or pass the folder holding them");
}

std::shared_ptr<nn::TensorDataset> load_split(const std::string& dir, const std::string& prefix) {
  const std::string image_path = find_file(dir, prefix + "-images-idx3-ubyte");
  const std::string label_path = find_file(dir, prefix + "-labels-idx1-ubyte");
  const Tensor images = read_idx(image_path);
  const Tensor labels = read_idx(label_path);
  if (images.dtype() != DType::kUInt8 || images.rank() != 3 || images.dim(1) != 28 ||
      images.dim(2) != 28) {
    throw io_error(image_path,
                   fmt::format("expected uint8 images (N, 28, 28), found {}", describe(images)));
  }
  if (labels.dtype() != DType::kUInt8 || labels.rank() != 1 || labels.dim(0) != images.dim(0)) {
    throw io_error(label_path, fmt::format("expected {} uint8 labels, found {}", images.dim(0),
                                           describe(labels)));
  }
  const int64_t n = images.dim(0);
  Tensor x = Tensor::empty({n, 1, 28, 28}, DType::kFloat32);
  const uint8_t* src = images.data<uint8_t>();
  float* dst = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) dst[i] = static_cast<float>(src[i]) * (1.0f / 255.0f);
  Tensor y = Tensor::empty({n}, DType::kInt64);
  const uint8_t* ls = labels.data<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    if (ls[i] >= 10)
      throw io_error(label_path, fmt::format("label {} of example {} is not in [0, 10)", ls[i], i));
    y.data<int64_t>()[i] = ls[i];
  }
  return std::make_shared<nn::TensorDataset>(x, y);
}

}  // namespace

Tensor read_idx(const std::string& path) {
  if (!std::filesystem::exists(path)) throw io_error(path, "does not exist");
  const std::vector<unsigned char> bytes = read_all(path);
  if (bytes.size() < 4)
    throw io_error(path, fmt::format("{} bytes is too short for an IDX header", bytes.size()));
  if (bytes[0] != 0 || bytes[1] != 0) {
    throw io_error(
        path, fmt::format("bad magic number {:02X}{:02X}{:02X}{:02X} (IDX files start with 0000)",
                          bytes[0], bytes[1], bytes[2], bytes[3]));
  }
  const DType dtype = idx_dtype(bytes[2], path);
  const int rank = bytes[3];
  if (rank < 1) throw io_error(path, "rank 0 in the magic number");
  const size_t header = 4 + 4 * static_cast<size_t>(rank);
  if (bytes.size() < header)
    throw io_error(path, fmt::format("truncated header: {} bytes for {} dims", bytes.size(), rank));
  Shape shape(rank);
  for (int d = 0; d < rank; ++d) shape[d] = big_endian32(&bytes[4 + 4 * d]);
  int64_t count = 0;
  TAMP_WITH_CONTEXT(fmt::format("IDX file '{}'", path), count = checked_numel(shape));
  const size_t element = size_of(dtype);
  const size_t have = bytes.size() - header;
  if (static_cast<uint64_t>(count) > have / element ||
      have != static_cast<size_t>(count) * element) {
    throw io_error(
        path,
        fmt::format("holds {} bytes of data but its header ({} {}) needs {} values of {} bytes{}",
                    have, dtype_name(dtype), to_string(shape), count, element,
                    static_cast<uint64_t>(count) > have / element ? " (truncated?)" : ""));
  }
  Tensor t = Tensor::empty(shape, dtype);
  auto* out = static_cast<unsigned char*>(t.raw_data());
  const unsigned char* in = bytes.data() + header;
  if (element == 1) {
    std::memcpy(out, in, static_cast<size_t>(count));
  } else {  // big-endian to host (little-endian) order
    for (size_t i = 0; i < static_cast<size_t>(count); ++i) {
      for (size_t b = 0; b < element; ++b) out[i * element + b] = in[i * element + element - 1 - b];
    }
  }
  return t;
}

std::vector<std::string> fashion_mnist_files(const std::string& dir) {
  std::vector<std::string> files;
  for (const char* prefix : {"train", "t10k"}) {
    files.push_back(find_file(dir, std::string(prefix) + "-images-idx3-ubyte"));
    files.push_back(find_file(dir, std::string(prefix) + "-labels-idx1-ubyte"));
  }
  return files;
}

nn::TrainTest fashion_mnist(const std::string& dir) {
  nn::TrainTest data;
  data.train = load_split(dir, "train");
  data.test = load_split(dir, "t10k");
  return data;
}

}  // namespace tamp::io
