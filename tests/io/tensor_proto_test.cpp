// TensorProto reading and writing: the sample files onnx.numpy_helper wrote
// (tests/data/tensor_proto, raw_data and typed-field variants), round trips of every tamp
// dtype through both encodings, and bad files.
#include <tamp/io/detail/onnx_tensor.h>
#include <tamp/io/tensor_proto.h>

#include "support/expect.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace tamp::test {
namespace {

namespace fs = std::filesystem;

fs::path samples_dir() {
  const char* env = std::getenv("TAMP_SOURCE_DIR");
  const fs::path root =
      env ? fs::path(env) : fs::path(__FILE__).parent_path().parent_path().parent_path();
  return root / "tests" / "data" / "tensor_proto";
}

DType dtype_named(const std::string& name) {
  for (int d = 0; d <= static_cast<int>(DType::kBool); ++d) {
    if (dtype_name(static_cast<DType>(d)) == name) return static_cast<DType>(d);
  }
  throw Error("unknown dtype " + name);
}

TEST(TensorProtoFiles, ReadOnnxSamplesInBothEncodings) {
  std::ifstream in(samples_dir() / "samples.json");
  ASSERT_TRUE(in) << samples_dir();
  const auto samples = nlohmann::json::parse(in);
  int files = 0;
  for (const auto& [key, s] : samples.items()) {
    const DType dtype = dtype_named(s["type"]);
    const Shape dims = s["dims"].get<Shape>();
    for (const auto& file : s["files"]) {
      SCOPED_TRACE(file.get<std::string>());
      const Tensor t = io::read_tensor_file((samples_dir() / file.get<std::string>()).string());
      ++files;
      ASSERT_EQ(t.dtype(), dtype);
      ASSERT_EQ(t.shape(), dims);
      const auto& values = s["values"];
      ASSERT_EQ(t.numel(), static_cast<int64_t>(values.size()));
      for (int64_t i = 0; i < t.numel(); ++i) {
        const auto& v = values[static_cast<size_t>(i)];
        if (s["values_are_float16_bits"].get<bool>()) {
          EXPECT_EQ(t.data<Half>()[i].bits, v.get<uint16_t>()) << i;
        } else if (dtype == DType::kInt64) {
          EXPECT_EQ(t.data<int64_t>()[i], std::stoll(v.get<std::string>())) << i;
        } else if (dtype == DType::kBool) {
          EXPECT_EQ(t.data<bool>()[i], v.get<bool>()) << i;
        } else if (v.is_string()) {
          EXPECT_EQ(t.at(i), std::stod(v.get<std::string>())) << i;  // "inf"
        } else {
          EXPECT_EQ(t.at(i), v.get<double>()) << i;
          EXPECT_EQ(std::signbit(t.at(i)), std::signbit(v.get<double>())) << i;  // -0.0
        }
      }
    }
  }
  EXPECT_EQ(files, 20);
}

// One tensor of each dtype with values at the edges of its range.
std::vector<Tensor> every_dtype() {
  std::vector<Tensor> out;
  out.push_back(Tensor::from_vector<float>({2, 2}, {1.5f, -0.0f, INFINITY, 3e-38f}));
  out.push_back(Tensor::from_vector<double>({3}, {1e300, -5e-324, 0.1}));
  out.push_back(Tensor::from_vector<Half>({2}, {Half{0x3c00}, Half{0xfbff}}));
  out.push_back(Tensor::from_vector<BFloat16>({2}, {BFloat16{0x3f80}, BFloat16{0xff7f}}));
  out.push_back(Tensor::from_vector<int8_t>({3}, {-128, 0, 127}));
  out.push_back(Tensor::from_vector<uint8_t>({3}, {0, 128, 255}));
  out.push_back(Tensor::from_vector<int16_t>({2}, {-32768, 32767}));
  out.push_back(Tensor::from_vector<uint16_t>({2}, {0, 65535}));
  out.push_back(Tensor::from_vector<int32_t>({2}, {INT32_MIN, INT32_MAX}));
  out.push_back(Tensor::from_vector<uint32_t>({2}, {0, UINT32_MAX}));
  out.push_back(Tensor::from_vector<int64_t>({2}, {INT64_MIN, INT64_MAX}));
  out.push_back(Tensor::from_vector<uint64_t>({2}, {0, UINT64_MAX}));
  out.push_back(Tensor::from_vector<bool>({1, 3}, {true, false, true}));
  out.push_back(Tensor::zeros({0, 4}));
  out.push_back(Tensor::scalar(7, DType::kInt64));
  return out;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

TEST(TensorProtoFiles, EveryDtypeRoundTripsThroughRawData) {
  TempDir dir;
  for (const Tensor& t : every_dtype()) {
    SCOPED_TRACE(describe(t));
    io::write_tensor_file(dir.file("t.pb"), t, "value");
    const io::NamedTensor back = io::read_named_tensor_file(dir.file("t.pb"));
    EXPECT_EQ(back.name, "value");
    EXPECT_TRUE(same_bits(back.tensor, t));
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()),
            1);  // no temp files left
}

TEST(TensorProtoFiles, EveryDtypeRoundTripsThroughTypedFields) {
  for (const Tensor& t : every_dtype()) {
    SCOPED_TRACE(describe(t));
    onnx::TensorProto p;
    io::detail::tensor_to_proto(t, p, SIZE_MAX);
    EXPECT_FALSE(p.has_raw_data());
    EXPECT_TRUE(same_bits(io::detail::tensor_from_proto(p), t));
  }
}

TEST(TensorProtoFiles, NonzeroBoolBytesReadAsTrue) {
  onnx::TensorProto p;
  p.set_data_type(onnx::TensorProto::BOOL);
  p.add_dims(3);
  p.set_raw_data(std::string("\x00\x02\xff", 3));
  EXPECT_EQ(io::detail::tensor_from_proto(p).to_vector<int>(), (std::vector<int>{0, 1, 1}));
}

TEST(TensorProtoFiles, BadFilesNameTheFileAndTheProblem) {
  TempDir dir;
  const std::string path = dir.file("bad.pb");
  std::ofstream(path, std::ios::binary)
      << std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
  expect_error([&] { io::read_tensor_file(path); }, ErrorKind::kInvalidInput,
               {"reading '" + path + "'", "not a valid TensorProto"});
  expect_error([&] { io::read_tensor_file(dir.file("absent.pb")); }, ErrorKind::kIo,
               {"absent.pb", "does not exist"});

  onnx::TensorProto p;
  p.set_name("s");
  p.set_data_type(onnx::TensorProto::STRING);
  p.add_string_data("hello");
  std::ofstream(path, std::ios::binary | std::ios::trunc) << p.SerializeAsString();
  expect_error([&] { io::read_tensor_file(path); }, ErrorKind::kUnsupported,
               {"tensor 's'", "STRING"});

  p.Clear();
  p.set_data_type(onnx::TensorProto::INT64);
  p.add_dims(2);
  p.add_int64_data(1);
  expect_error([&] { io::parse_tensor_proto(p.SerializeAsString()); }, ErrorKind::kInvalidInput,
               {"int64_data holds 1 values", "2 elements"});
  p.set_data_type(12345);
  expect_error([&] { io::parse_tensor_proto(p.SerializeAsString()); }, ErrorKind::kInvalidInput,
               {"12345 is not a valid ONNX data type"});
  p.set_data_type(onnx::TensorProto::COMPLEX64);
  expect_error([&] { io::parse_tensor_proto(p.SerializeAsString()); }, ErrorKind::kUnsupported,
               {"COMPLEX64"});
}

}  // namespace
}  // namespace tamp::test
