#include <tamp/io/detail/onnx_tensor.h>

#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

namespace tamp::io::detail {

namespace fs = std::filesystem;
using onnx::TensorProto;

DType dtype_from_onnx(int32_t t) {
  switch (t) {
    case TensorProto::FLOAT:
      return DType::kFloat32;
    case TensorProto::DOUBLE:
      return DType::kFloat64;
    case TensorProto::FLOAT16:
      return DType::kFloat16;
    case TensorProto::BFLOAT16:
      return DType::kBFloat16;
    case TensorProto::INT8:
      return DType::kInt8;
    case TensorProto::UINT8:
      return DType::kUInt8;
    case TensorProto::INT16:
      return DType::kInt16;
    case TensorProto::UINT16:
      return DType::kUInt16;
    case TensorProto::INT32:
      return DType::kInt32;
    case TensorProto::UINT32:
      return DType::kUInt32;
    case TensorProto::INT64:
      return DType::kInt64;
    case TensorProto::UINT64:
      return DType::kUInt64;
    case TensorProto::BOOL:
      return DType::kBool;
    default:
      break;
  }
  if (TensorProto::DataType_IsValid(t) && t != TensorProto::UNDEFINED) {
    throw Error(fmt::format("element type {} is not supported by tamp", onnx_type_name(t)),
                ErrorKind::kUnsupported);
  }
  throw Error(fmt::format("element type {} is not a valid ONNX data type", t));
}

int32_t onnx_from_dtype(DType d) {
  switch (d) {
    case DType::kFloat32:
      return TensorProto::FLOAT;
    case DType::kFloat64:
      return TensorProto::DOUBLE;
    case DType::kFloat16:
      return TensorProto::FLOAT16;
    case DType::kBFloat16:
      return TensorProto::BFLOAT16;
    case DType::kInt8:
      return TensorProto::INT8;
    case DType::kUInt8:
      return TensorProto::UINT8;
    case DType::kInt16:
      return TensorProto::INT16;
    case DType::kUInt16:
      return TensorProto::UINT16;
    case DType::kInt32:
      return TensorProto::INT32;
    case DType::kUInt32:
      return TensorProto::UINT32;
    case DType::kInt64:
      return TensorProto::INT64;
    case DType::kUInt64:
      return TensorProto::UINT64;
    case DType::kBool:
      return TensorProto::BOOL;
  }
  return TensorProto::UNDEFINED;
}

std::string onnx_type_name(int32_t t) {
  if (TensorProto::DataType_IsValid(t))
    return TensorProto::DataType_Name(static_cast<TensorProto::DataType>(t));
  return std::to_string(t);
}

Shape checked_shape(const google::protobuf::RepeatedField<int64_t>& dims) {
  TAMP_CHECK(dims.size() <= kMaxRank, "{} dims, more than the {} tamp accepts", dims.size(),
             kMaxRank);
  Shape shape(dims.begin(), dims.end());
  int64_t n = 1;
  for (int64_t d : shape) {
    TAMP_CHECK(d >= 0, "negative dim in shape {}", to_string(shape));
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) {
      throw Error(fmt::format("the dims of shape {} multiply past int64", to_string(shape)));
    }
    n *= d;
  }
  return shape;
}

namespace {

// Bytes the element count needs, or an error when it cannot be represented.
uint64_t byte_size(int64_t numel, DType dtype) {
  const uint64_t elem = size_of(dtype);
  TAMP_CHECK(static_cast<uint64_t>(numel) <= std::numeric_limits<uint64_t>::max() / 2 / elem,
             "{} elements of {} are too many bytes", numel, dtype_name(dtype));
  return static_cast<uint64_t>(numel) * elem;
}

Tensor from_bytes(const Shape& shape, DType dtype, const char* bytes, uint64_t size,
                  const char* where) {
  const int64_t n = numel(shape);
  const uint64_t want = byte_size(n, dtype);
  TAMP_CHECK(size == want, "{} has {} bytes, but {} {} needs {}", where, size, dtype_name(dtype),
             to_string(shape), want);
  Tensor t = Tensor::empty(shape, dtype);
  if (want) std::memcpy(t.raw_data(), bytes, want);
  if (dtype == DType::kBool) {  // any nonzero byte is true; keep tamp's bools 0/1
    bool* p = t.data<bool>();
    const auto* src = reinterpret_cast<const uint8_t*>(bytes);
    for (int64_t i = 0; i < n; ++i) p[i] = src[i] != 0;
  }
  return t;
}

template <class Field> void check_count(const Field& field, int64_t n, const char* field_name,
                                        DType dtype, const Shape& shape) {
  TAMP_CHECK(static_cast<int64_t>(field.size()) == n,
             "{} holds {} values, but {} {} has {} elements", field_name, field.size(),
             dtype_name(dtype), to_string(shape), n);
}

Tensor from_typed(const TensorProto& p, const Shape& shape, DType dtype) {
  const int64_t n = numel(shape);
  Tensor t;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    auto fill = [&](const auto& field, const char* field_name, auto convert) {
      check_count(field, n, field_name, dtype, shape);
      t = Tensor::empty(shape, dtype);
      T* out = t.template data<T>();
      for (int64_t i = 0; i < n; ++i) out[i] = convert(field.Get(static_cast<int>(i)));
    };
    if constexpr (std::is_same_v<T, float>) {
      fill(p.float_data(), "float_data", [](float v) { return v; });
    } else if constexpr (std::is_same_v<T, double>) {
      fill(p.double_data(), "double_data", [](double v) { return v; });
    } else if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
      fill(p.int32_data(), "int32_data", [](int32_t v) { return T{static_cast<uint16_t>(v)}; });
    } else if constexpr (std::is_same_v<T, bool>) {
      fill(p.int32_data(), "int32_data", [](int32_t v) { return v != 0; });
    } else if constexpr (std::is_same_v<T, int64_t>) {
      fill(p.int64_data(), "int64_data", [](int64_t v) { return v; });
    } else if constexpr (std::is_same_v<T, uint32_t> || std::is_same_v<T, uint64_t>) {
      fill(p.uint64_data(), "uint64_data", [](uint64_t v) { return static_cast<T>(v); });
    } else {  // int8, uint8, int16, uint16, int32 travel in int32_data
      fill(p.int32_data(), "int32_data", [](int32_t v) { return static_cast<T>(v); });
    }
  });
  return t;
}

int64_t parse_int(const std::string& key, const std::string& text) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  TAMP_CHECK(ec == std::errc() && end == text.data() + text.size() && v >= 0,
             "external data {} '{}' is not a non-negative integer", key, text);
  return v;
}

// The file named by `location`, which must resolve (symlinks included) inside `model_dir`.
fs::path external_path(const std::string& location, const std::string& model_dir) {
  TAMP_CHECK(!model_dir.empty(),
             "external data ('{}') needs the model's folder; load the model from a file", location);
  TAMP_CHECK(!location.empty(), "external data without a location");
  TAMP_CHECK(location.find('\0') == std::string::npos,
             "external data location contains a NUL byte");
  const fs::path rel(location);
  TAMP_CHECK(!rel.is_absolute() && !rel.has_root_name() && !rel.has_root_directory(),
             "external data location '{}' is absolute; it must be relative to the model's folder",
             location);
  std::error_code ec;
  const fs::path root = fs::weakly_canonical(fs::absolute(model_dir), ec);
  TAMP_CHECK(!ec, "cannot resolve the model folder '{}': {}", model_dir, ec.message());
  const fs::path file = fs::weakly_canonical(root / rel, ec);
  TAMP_CHECK(!ec, "cannot resolve external data location '{}': {}", location, ec.message());
  // Component-wise prefix check: "/m/dir2" is not inside "/m/dir".
  auto f = file.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++f) {
    if (r->empty()) continue;  // trailing separator
    TAMP_CHECK(f != file.end() && *f == *r,
               "external data location '{}' resolves to '{}', outside the model's folder '{}'",
               location, file.string(), root.string());
  }
  TAMP_CHECK(fs::is_regular_file(file, ec),
             "external data file '{}' does not exist or is not a regular file", location);
  return file;
}

Tensor from_external(const TensorProto& p, const Shape& shape, DType dtype,
                     const std::string& model_dir) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : p.external_data()) {
    if (kv.key() == "location")
      location = kv.value();
    else if (kv.key() == "offset")
      offset = parse_int("offset", kv.value());
    else if (kv.key() == "length")
      length = parse_int("length", kv.value());
  }
  const fs::path file = external_path(location, model_dir);
  std::error_code ec;
  const uint64_t size = fs::file_size(file, ec);
  TAMP_CHECK(!ec, "cannot read the size of external data file '{}'", location);
  TAMP_CHECK(static_cast<uint64_t>(offset) <= size,
             "external data offset {} is past the end of '{}' ({} bytes)", offset, location, size);
  const uint64_t available = size - static_cast<uint64_t>(offset);
  if (length < 0) length = static_cast<int64_t>(available);
  TAMP_CHECK(static_cast<uint64_t>(length) <= available,
             "external data offset {} + length {} is past the end of '{}' ({} bytes)", offset,
             length, location, size);
  const uint64_t want = byte_size(numel(shape), dtype);
  TAMP_CHECK(static_cast<uint64_t>(length) == want,
             "external data in '{}' has {} bytes, but {} {} needs {}", location, length,
             dtype_name(dtype), to_string(shape), want);
  std::ifstream in(file, std::ios::binary);
  TAMP_CHECK(in, "cannot open external data file '{}'", location);
  std::string bytes(static_cast<size_t>(length), '\0');
  in.seekg(offset);
  in.read(bytes.data(), length);
  TAMP_CHECK(in.gcount() == length, "cannot read {} bytes at offset {} of '{}'", length, offset,
             location);
  return from_bytes(shape, dtype, bytes.data(), bytes.size(), "external data");
}

}  // namespace

Tensor tensor_from_proto(const TensorProto& p, const std::string& model_dir) {
  if (p.has_segment()) throw Error("segmented tensors are not supported", ErrorKind::kUnsupported);
  const DType dtype = dtype_from_onnx(p.data_type());
  const Shape shape = checked_shape(p.dims());
  if (p.data_location() == TensorProto::EXTERNAL) return from_external(p, shape, dtype, model_dir);
  if (p.has_raw_data()) {
    const std::string& raw = p.raw_data();
    return from_bytes(shape, dtype, raw.data(), raw.size(), "raw_data");
  }
  return from_typed(p, shape, dtype);
}

void tensor_to_proto(const Tensor& t, TensorProto& p, size_t raw_threshold) {
  TAMP_CHECK(t.defined(), "cannot write an undefined tensor");
  p.clear_dims();
  for (int64_t d : t.shape()) p.add_dims(d);
  p.set_data_type(onnx_from_dtype(t.dtype()));
  if (t.nbytes() >= raw_threshold) {
    p.set_raw_data(t.raw_data(), t.nbytes());  // tamp's bools are 0/1 bytes, as ONNX wants
    return;
  }
  const int64_t n = t.numel();
  dispatch(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* v = t.template data<T>();
    for (int64_t i = 0; i < n; ++i) {
      if constexpr (std::is_same_v<T, float>)
        p.add_float_data(v[i]);
      else if constexpr (std::is_same_v<T, double>)
        p.add_double_data(v[i]);
      else if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>)
        p.add_int32_data(v[i].bits);
      else if constexpr (std::is_same_v<T, int64_t>)
        p.add_int64_data(v[i]);
      else if constexpr (std::is_same_v<T, uint32_t> || std::is_same_v<T, uint64_t>)
        p.add_uint64_data(v[i]);
      else
        p.add_int32_data(static_cast<int32_t>(v[i]));
    }
  });
}

}  // namespace tamp::io::detail
