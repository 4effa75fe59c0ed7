#include <tamp/io/detail/isolated_read.h>
#include <tamp/io/hdf5_dataset.h>

#include <H5Cpp.h>

#include <filesystem>

namespace tamp::io {

namespace {

// Elements a dataset may declare; a larger one is a corrupt or hostile file, not data to load.
constexpr int64_t kMaxElements = int64_t{1} << 34;
// Chunked data may be compressed; deflate packs at most about 1032:1, so a dataset storing less
// than 1/4096 of its raw size is damaged or was never written (libhdf5 would invent fill values
// for the missing chunks: fuzzing found 20 stored bytes standing for 50 million elements, and
// libhdf5 spending 1.5 GB on the bookkeeping).
constexpr uint64_t kMaxCompression = 4096;

// The bytes a dataset stores against what its shape needs, before anything is allocated:
// contiguous and compact data is stored raw, so less than the raw size is a damaged file.
void check_storage(const H5::DataSet& ds, const std::string& path, const std::string& name,
                   int64_t count, uint64_t file_bytes) {
  const uint64_t need = static_cast<uint64_t>(count) * ds.getDataType().getSize();
  const uint64_t stored = ds.getStorageSize();
  const bool chunked = ds.getCreatePlist().getLayout() == H5D_CHUNKED;
  if (stored < (chunked ? need / kMaxCompression : need) || (chunked && stored > file_bytes)) {
    throw Error(fmt::format(
        "HDF5 file '{}': dataset '{}' stores {} bytes for {} elements that need {} raw ({}): "
        "the file is damaged or the dataset was never fully written",
        path, name, stored, count, need, chunked ? "chunked" : "not compressed"));
  }
}

// Integers keep their width and sign (token ids stay int64); floats become float32.
std::pair<DType, H5::PredType> memory_type(const H5::DataSet& ds) {
  if (ds.getTypeClass() == H5T_FLOAT) return {DType::kFloat32, H5::PredType::NATIVE_FLOAT};
  const H5::IntType stored = ds.getIntType();
  const bool is_signed = stored.getSign() != H5T_SGN_NONE;
  switch (stored.getSize()) {
    case 1:
      return is_signed ? std::pair{DType::kInt8, H5::PredType::NATIVE_INT8}
                       : std::pair{DType::kUInt8, H5::PredType::NATIVE_UINT8};
    case 2:
      return is_signed ? std::pair{DType::kInt16, H5::PredType::NATIVE_INT16}
                       : std::pair{DType::kUInt16, H5::PredType::NATIVE_UINT16};
    case 4:
      return is_signed ? std::pair{DType::kInt32, H5::PredType::NATIVE_INT32}
                       : std::pair{DType::kUInt32, H5::PredType::NATIVE_UINT32};
    default:
      return is_signed ? std::pair{DType::kInt64, H5::PredType::NATIVE_INT64}
                       : std::pair{DType::kUInt64, H5::PredType::NATIVE_UINT64};
  }
}

Tensor read_numeric(const H5::H5File& file, const std::string& path, const std::string& name,
                    bool labels, uint64_t file_bytes) {
  if (!file.nameExists(name)) {
    throw Error(fmt::format("HDF5 file '{}' has no dataset '{}'", path, name),
                ErrorKind::kInvalidInput);
  }
  H5::DataSet ds = file.openDataSet(name);
  const H5T_class_t cls = ds.getTypeClass();
  if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
    throw Error(
        fmt::format("HDF5 file '{}': dataset '{}' is not numeric (integer or float)", path, name));
  }
  H5::DataSpace space = ds.getSpace();
  if (!space.isSimple())
    throw Error(fmt::format("HDF5 file '{}': dataset '{}' has no simple shape", path, name));
  const int rank = space.getSimpleExtentNdims();
  if (rank < 1) {
    throw Error(
        fmt::format("HDF5 file '{}': dataset '{}' has rank {}, expected >= 1 (examples first)",
                    path, name, rank));
  }
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  space.getSimpleExtentDims(dims.data());
  Shape shape(dims.begin(), dims.end());
  int64_t count = 0;
  TAMP_WITH_CONTEXT(fmt::format("HDF5 file '{}', dataset '{}'", path, name),
                    count = checked_numel(shape));
  if (count > kMaxElements) {
    throw Error(fmt::format(
        "HDF5 file '{}': dataset '{}' declares {} elements ({}), more than tamp loads ({})", path,
        name, count, to_string(shape), kMaxElements));
  }
  check_storage(ds, path, name, count, file_bytes);
  // Integer labels are int64, as cross-entropy wants them.
  const auto [dtype, h5type] = labels && cls == H5T_INTEGER
                                   ? std::pair{DType::kInt64, H5::PredType::NATIVE_INT64}
                                   : memory_type(ds);
  Tensor t = Tensor::empty(shape, dtype);
  if (count > 0) ds.read(t.raw_data(), h5type);
  return t;
}

}  // namespace

std::shared_ptr<nn::TensorDataset> hdf5_dataset(const std::string& path, const std::string& x_name,
                                                const std::string& y_name) {
  if (!std::filesystem::exists(path)) {
    throw Error(fmt::format("HDF5 file '{}' does not exist", path), ErrorKind::kIo);
  }
  detail::NamedTensors read = detail::read_isolated(
      [&] {
        H5::Exception::dontPrint();
        try {
          H5::H5File file(path, H5F_ACC_RDONLY);
          const uint64_t file_bytes = std::filesystem::file_size(path);
          return detail::NamedTensors{{"x", read_numeric(file, path, x_name, false, file_bytes)},
                                      {"y", read_numeric(file, path, y_name, true, file_bytes)}};
        } catch (const H5::Exception& e) {
          throw Error(fmt::format("HDF5 file '{}' cannot be read: {} ({})", path, e.getDetailMsg(),
                                  e.getFuncName()),
                      ErrorKind::kIo);
        }
      },
      fmt::format("HDF5 file '{}'", path),
      // Stored data expands at most kMaxCompression times, then up to 8 times more as int64
      // labels from bytes; a GiB more for libhdf5.
      std::filesystem::file_size(path) * kMaxCompression * 8 + (uint64_t{1} << 30));
  Tensor& x = read.at("x");
  Tensor& y = read.at("y");
  if (x.dim(0) != y.dim(0)) {
    throw Error(fmt::format("HDF5 file '{}': '{}' holds {} examples but '{}' holds {}", path,
                            x_name, x.dim(0), y_name, y.dim(0)));
  }
  return std::make_shared<nn::TensorDataset>(std::move(x), std::move(y));
}

}  // namespace tamp::io
