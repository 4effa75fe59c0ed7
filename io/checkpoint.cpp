#include <tamp/io/checkpoint.h>
#include <tamp/io/detail/checkpoint_seal.h>
#include <tamp/io/detail/isolated_read.h>

#include <H5Cpp.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace tamp::io {

namespace {

constexpr const char* kFormat = "tamp-checkpoint";
constexpr int64_t kVersion = 1;
constexpr int64_t kMaxRank = 64;
constexpr int64_t kMaxEntries = int64_t{1} << 20;

DType dtype_from_name(const std::string& name) {
  for (int i = 0; i <= static_cast<int>(DType::kBool); ++i) {
    const DType d = static_cast<DType>(i);
    if (dtype_name(d) == name) return d;
  }
  throw Error(fmt::format("unknown dtype '{}'", name), ErrorKind::kInvalidInput);
}

// Fixed-length strings: they live inside the attribute message. (Variable-length strings live
// in the global heap, which HDF5 reads without bounds checks: a damaged heap crashed it.)
void write_string_attr(H5::H5Object& obj, const std::string& name, const std::string& value) {
  H5::StrType type(H5::PredType::C_S1, std::max<size_t>(1, value.size()));
  H5::Attribute a = obj.createAttribute(name, type, H5::DataSpace(H5S_SCALAR));
  a.write(type, value.empty() ? std::string(1, '\0') : value);
}

std::string read_string_attr(const H5::H5Object& obj, const std::string& name) {
  TAMP_CHECK(obj.attrExists(name), "attribute '{}' is missing", name);
  H5::Attribute a = obj.openAttribute(name);
  TAMP_CHECK(a.getTypeClass() == H5T_STRING, "attribute '{}' is not a string", name);
  H5::StrType type = a.getStrType();
  TAMP_CHECK(!type.isVariableStr(), "attribute '{}' is a variable-length string", name);
  const size_t size = type.getSize();
  TAMP_CHECK(size >= 1 && size <= 65536, "attribute '{}' has a {}-byte string", name, size);
  H5::DataSpace space = a.getSpace();
  TAMP_CHECK(space.getSimpleExtentNpoints() == 1, "attribute '{}' is not a single string", name);
  std::string value(size, '\0');
  a.read(type, value.data());
  value.resize(std::strlen(value.c_str()));
  return value;
}

void write_ints_attr(H5::H5Object& obj, const std::string& name,
                     const std::vector<int64_t>& values) {
  const hsize_t n = values.size();
  H5::Attribute a = obj.createAttribute(name, H5::PredType::STD_I64LE, H5::DataSpace(1, &n));
  a.write(H5::PredType::NATIVE_INT64, values.data());
}

std::vector<int64_t> read_ints_attr(const H5::H5Object& obj, const std::string& name) {
  TAMP_CHECK(obj.attrExists(name), "attribute '{}' is missing", name);
  H5::Attribute a = obj.openAttribute(name);
  TAMP_CHECK(a.getTypeClass() == H5T_INTEGER, "attribute '{}' is not an integer array", name);
  H5::DataSpace space = a.getSpace();
  TAMP_CHECK(space.isSimple() && space.getSimpleExtentNdims() == 1,
             "attribute '{}' is not one-dimensional", name);
  const hssize_t n = space.getSimpleExtentNpoints();
  TAMP_CHECK(n >= 1 && n <= kMaxRank + 1, "attribute '{}' has {} values", name, n);
  std::vector<int64_t> values(static_cast<size_t>(n));
  a.read(H5::PredType::NATIVE_INT64, values.data());
  return values;
}

void fsync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) {
    if (directory) return;  // some file systems refuse: the rename is still atomic
    throw Error(fmt::format("cannot open '{}' to sync it", path), ErrorKind::kIo);
  }
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0 && !directory) throw Error(fmt::format("cannot sync '{}'", path), ErrorKind::kIo);
}

void write_file(const Checkpoint& c, const std::string& path) {
  H5::FileCreatPropList create;
  create.setUserblock(detail::kSealBytes);
  H5::H5File file(path, H5F_ACC_TRUNC, create);
  write_string_attr(file, "format", kFormat);
  write_ints_attr(file, "version", {kVersion});
  int64_t i = 0;
  for (const auto& [name, t] : c.tensors) {
    TAMP_CHECK(t.defined(), "checkpoint entry '{}' is undefined", name);
    const hsize_t n = t.nbytes();
    H5::DataSpace space(1, &n);
    H5::DataSet ds = file.createDataSet(fmt::format("t{}", i++), H5::PredType::STD_U8LE, space);
    if (n > 0) ds.write(t.raw_data(), H5::PredType::NATIVE_UINT8);
    write_string_attr(ds, "name", name);
    write_string_attr(ds, "dtype", std::string(dtype_name(t.dtype())));
    std::vector<int64_t> shape{static_cast<int64_t>(t.shape().size())};
    shape.insert(shape.end(), t.shape().begin(), t.shape().end());
    write_ints_attr(ds, "shape", shape);
  }
  file.close();
}

Tensor read_entry(const H5::H5File& file, const std::string& ds_name, uint64_t file_bytes,
                  std::string& name) {
  H5::DataSet ds = file.openDataSet(ds_name);
  name = read_string_attr(ds, "name");
  const DType dtype = dtype_from_name(read_string_attr(ds, "dtype"));
  const std::vector<int64_t> shape_attr = read_ints_attr(ds, "shape");
  TAMP_CHECK(shape_attr[0] >= 0 && shape_attr[0] == static_cast<int64_t>(shape_attr.size()) - 1,
             "entry '{}': the shape attribute is malformed", name);
  const Shape shape(shape_attr.begin() + 1, shape_attr.end());
  int64_t numel = 0;
  TAMP_WITH_CONTEXT(fmt::format("entry '{}'", name), numel = checked_numel(shape));
  TAMP_CHECK(ds.getTypeClass() == H5T_INTEGER && ds.getDataType().getSize() == 1,
             "entry '{}' is not stored as bytes", name);
  H5::DataSpace space = ds.getSpace();
  TAMP_CHECK(space.isSimple() && space.getSimpleExtentNdims() == 1,
             "entry '{}' is not one-dimensional", name);
  hsize_t n = 0;
  space.getSimpleExtentDims(&n);
  const uint64_t want = static_cast<uint64_t>(numel) * size_of(dtype);
  TAMP_CHECK(numel <= static_cast<int64_t>(file_bytes) && want == n,
             "entry '{}' ({} {}) should hold {} bytes but holds {}", name, dtype_name(dtype),
             to_string(shape), want, static_cast<uint64_t>(n));
  TAMP_CHECK(n <= file_bytes, "entry '{}' declares {} bytes, more than the file's {}", name,
             static_cast<uint64_t>(n), file_bytes);
  Tensor t = Tensor::empty(shape, dtype);
  if (n > 0) ds.read(t.raw_data(), H5::PredType::NATIVE_UINT8);
  return t;
}

// The entries of a sealed checkpoint, through libhdf5 (in the isolated reader process).
detail::NamedTensors read_hdf5(const std::string& path, uint64_t file_bytes) {
  H5::Exception::dontPrint();
  detail::NamedTensors tensors;
  std::string where = "the file header";
  try {
    if (!H5::H5File::isHdf5(path)) {
      throw Error(fmt::format("checkpoint '{}' is not an HDF5 file", path),
                  ErrorKind::kInvalidInput);
    }
    H5::H5File file(path, H5F_ACC_RDONLY);
    TAMP_WITH_CONTEXT(fmt::format("checkpoint '{}'", path), {
      const std::string format = file.attrExists("format") ? read_string_attr(file, "format") : "";
      TAMP_CHECK(format == kFormat, "not a tamp checkpoint (format attribute '{}', expected '{}')",
                 format, kFormat);
      const auto version = read_ints_attr(file, "version");
      TAMP_CHECK(version.size() == 1 && version[0] == kVersion, "checkpoint version {} is not {}",
                 version[0], kVersion);
      const hsize_t count = file.getNumObjs();
      TAMP_CHECK(count <= static_cast<hsize_t>(kMaxEntries),
                 "{} entries is more than a checkpoint holds", count);
      for (hsize_t i = 0; i < count; ++i) {
        const std::string ds_name = file.getObjnameByIdx(i);
        where = fmt::format("dataset '{}'", ds_name);
        TAMP_CHECK(file.getObjTypeByIdx(i) == H5G_DATASET, "'{}' is not a dataset", ds_name);
        std::string name;
        Tensor t = read_entry(file, ds_name, file_bytes, name);
        TAMP_CHECK(tensors.emplace(name, std::move(t)).second, "entry '{}' appears twice", name);
      }
    });
  } catch (const H5::Exception& e) {
    throw Error(fmt::format("checkpoint '{}' cannot be read at {}: {} ({}); the file is damaged",
                            path, where, e.getDetailMsg(), e.getFuncName()),
                ErrorKind::kInvalidInput);
  }
  return tensors;
}

}  // namespace

const Tensor& Checkpoint::at(const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end())
    throw Error(fmt::format("the checkpoint has no entry '{}'", name), ErrorKind::kInvalidInput);
  return it->second;
}

std::map<std::string, Tensor> Checkpoint::group(const std::string& prefix) const {
  std::map<std::string, Tensor> out;
  for (auto it = tensors.lower_bound(prefix);
       it != tensors.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    out[it->first.substr(prefix.size())] = it->second;
  }
  return out;
}

void Checkpoint::set_group(const std::string& prefix,
                           const std::map<std::string, Tensor>& entries) {
  for (const auto& [k, t] : entries) tensors[prefix + k] = t;
}

void Checkpoint::set_string(const std::string& name, const std::string& value) {
  Tensor t = Tensor::empty({static_cast<int64_t>(value.size())}, DType::kUInt8);
  if (!value.empty()) std::memcpy(t.raw_data(), value.data(), value.size());
  tensors[name] = t;
}

std::string Checkpoint::string(const std::string& name) const {
  const Tensor& t = at(name);
  TAMP_CHECK(t.dtype() == DType::kUInt8 && t.shape().size() == 1,
             "checkpoint entry '{}' is not a string", name);
  return std::string(static_cast<const char*>(t.raw_data()), static_cast<size_t>(t.numel()));
}

void save_checkpoint(const Checkpoint& checkpoint, const std::string& path) {
  const std::string tmp = fmt::format("{}.tmp-{}", path, ::getpid());
  try {
    {
      const auto held = detail::lock_libhdf5_in_caller();
      H5::Exception::dontPrint();
      write_file(checkpoint, tmp);
    }
    detail::seal_checkpoint(tmp);
    fsync_path(tmp, false);
  } catch (const H5::Exception& e) {
    std::remove(tmp.c_str());
    throw Error(fmt::format("cannot write checkpoint '{}': {} ({})", path, e.getDetailMsg(),
                            e.getFuncName()),
                ErrorKind::kIo);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw Error(fmt::format("cannot rename '{}' to '{}': {}", tmp, path, ec.message()),
                ErrorKind::kIo);
  }
  const auto dir = std::filesystem::path(path).parent_path();
  fsync_path(dir.empty() ? "." : dir.string(), true);
}

Checkpoint load_checkpoint(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw Error(fmt::format("checkpoint '{}' does not exist", path), ErrorKind::kIo);
  }
  const uint64_t file_bytes = std::filesystem::file_size(path, ec);
  detail::check_checkpoint_seal(path, file_bytes);
  Checkpoint c;
  // The reader holds the tensors (at most the file's bytes) and writes them out: twice the
  // file plus a GiB for libhdf5 is plenty.
  c.tensors = detail::read_isolated([&] { return read_hdf5(path, file_bytes); },
                                    fmt::format("checkpoint '{}'", path),
                                    2 * file_bytes + (uint64_t{1} << 30));
  return c;
}

}  // namespace tamp::io
