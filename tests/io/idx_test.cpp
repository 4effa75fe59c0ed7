#include <tamp/io/idx.h>

#include "support/expect.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

namespace tamp::io {
namespace {

namespace fs = std::filesystem;

const char* const kFashionDir = "/usr/share/datasets/fashion-mnist";

// A fresh folder per test, removed afterwards.
class IdxFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("tamp_idx_{}_{}", ::getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::vector<unsigned char>& bytes,
                    bool gzip = false) {
    const std::string path = (dir_ / name).string();
    if (gzip) {
      gzFile f = gzopen(path.c_str(), "wb");
      gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
      gzclose(f);
    } else {
      std::ofstream(path, std::ios::binary)
          .write(reinterpret_cast<const char*>(bytes.data()),
                 static_cast<std::streamsize>(bytes.size()));
    }
    return path;
  }

  // An IDX header for `type` and dims, followed by `data`.
  static std::vector<unsigned char> idx(unsigned char type, std::vector<uint32_t> dims,
                                        std::vector<unsigned char> data) {
    std::vector<unsigned char> b{0, 0, type, static_cast<unsigned char>(dims.size())};
    for (uint32_t d : dims) {
      for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<unsigned char>(d >> s));
    }
    b.insert(b.end(), data.begin(), data.end());
    return b;
  }

  fs::path dir_;
};

TEST(FashionMnist, ReadsTheRealData) {
  if (!fs::exists(kFashionDir)) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const nn::TrainTest data = fashion_mnist(kFashionDir);
  ASSERT_EQ(data.train->x().shape(), Shape({60000, 1, 28, 28}));
  ASSERT_EQ(data.train->y().shape(), Shape({60000}));
  ASSERT_EQ(data.test->x().shape(), Shape({10000, 1, 28, 28}));
  EXPECT_EQ(data.train->x().dtype(), DType::kFloat32);
  EXPECT_EQ(data.train->y().dtype(), DType::kInt64);
  // Balanced classes: 6000 per class in train, 1000 in test.
  for (const auto& [set, per_class] : {std::pair{data.train, 6000}, std::pair{data.test, 1000}}) {
    std::vector<int> counts(10, 0);
    const int64_t* y = set->y().data<int64_t>();
    for (int64_t i = 0; i < set->size(); ++i) {
      ASSERT_TRUE(y[i] >= 0 && y[i] < 10);
      ++counts[static_cast<size_t>(y[i])];
    }
    for (int c : counts) EXPECT_EQ(c, per_class);
  }
  // Known first labels (ankle boot, T-shirt, ...) and pixel range.
  EXPECT_EQ(data.train->y().data<int64_t>()[0], 9);
  EXPECT_EQ(data.test->y().data<int64_t>()[2], 1);
  const float* x = data.train->x().data<float>();
  double first_sum = 0;
  float lo = 1, hi = 0;
  for (int64_t i = 0; i < data.train->x().numel(); ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    if (i < 784) first_sum += x[i];
  }
  EXPECT_EQ(lo, 0.0f);
  EXPECT_EQ(hi, 1.0f);
  EXPECT_NEAR(first_sum, 76247 / 255.0, 1e-3);  // byte sum of image 0 is 76247
}

TEST_F(IdxFiles, ReadsEveryTypeBigEndianPlainOrGzipped) {
  const std::string u8 = write("u8.gz", idx(0x08, {2, 3}, {1, 2, 3, 4, 5, 255}), true);
  const Tensor a = read_idx(u8);
  EXPECT_EQ(a.shape(), Shape({2, 3}));
  EXPECT_EQ(a.dtype(), DType::kUInt8);
  EXPECT_EQ(a.to_vector<int>(), std::vector<int>({1, 2, 3, 4, 5, 255}));
  const Tensor b = read_idx(write("i32", idx(0x0C, {2}, {0, 0, 1, 2, 0xFF, 0xFF, 0xFF, 0xFE})));
  EXPECT_EQ(b.to_vector<int64_t>(), std::vector<int64_t>({258, -2}));
  const Tensor c = read_idx(write("f32", idx(0x0D, {1}, {0x3F, 0xC0, 0, 0})));  // 1.5f
  EXPECT_EQ(c.item(), 1.5);
}

TEST_F(IdxFiles, RejectsBadMagicTruncationAndTrailingData) {
  std::string m = test::error_message([&] {
    read_idx(write("bad_magic", {1, 2, 8, 1, 0, 0, 0, 1, 7}));
  });
  EXPECT_NE(m.find("bad magic"), std::string::npos) << m;
  EXPECT_NE(m.find("bad_magic"), std::string::npos) << m;
  m = test::error_message([&] { read_idx(write("bad_type", idx(0x07, {1}, {0}))); });
  EXPECT_NE(m.find("unknown data type"), std::string::npos) << m;
  m = test::error_message([&] {
    read_idx(write("short.gz", idx(0x08, {10, 28, 28}, std::vector<unsigned char>(100)), true));
  });
  EXPECT_NE(m.find("truncated"), std::string::npos) << m;
  m = test::error_message([&] { read_idx(write("long", idx(0x08, {2}, {1, 2, 3}))); });
  EXPECT_NE(m.find("needs 2 values"), std::string::npos) << m;
  m = test::error_message([&] { read_idx(write("header", {0, 0, 8, 3, 0, 0})); });
  EXPECT_NE(m.find("truncated header"), std::string::npos) << m;
  // Dims whose product overflows, in a tiny file: an error, not an allocation.
  m = test::error_message([&] {
    read_idx(write("huge", idx(0x0E, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, {})));
  });
  EXPECT_NE(m.find("huge"), std::string::npos) << m;
  m = test::error_message([&] { read_idx((dir_ / "absent").string()); });
  EXPECT_NE(m.find("does not exist"), std::string::npos) << m;
}

TEST_F(IdxFiles, RejectsACutGzipStream) {
  std::vector<unsigned char> data(5000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<unsigned char>(i * 7919 % 251);
  const std::string full = write("full.gz", idx(0x08, {5000}, data), true);
  std::ifstream in(full, std::ios::binary);
  std::vector<unsigned char> gz((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  gz.resize(gz.size() / 2);
  const std::string m = test::error_message([&] { read_idx(write("cut.gz", gz)); });
  EXPECT_TRUE(m.find("gzip") != std::string::npos || m.find("truncated") != std::string::npos) << m;
}

TEST_F(IdxFiles, MissingFashionMnistNamesThePathAndThePackage) {
  try {
    fashion_mnist(dir_.string());
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(m.find((dir_ / "train-images-idx3-ubyte.gz").string()), std::string::npos) << m;
    EXPECT_NE(m.find("dataset-fashion-mnist"), std::string::npos) << m;
  }
}

TEST_F(IdxFiles, FashionMnistChecksShapesAndLabels) {
  std::vector<unsigned char> img(2 * 28 * 28, 51);
  write("train-images-idx3-ubyte", idx(0x08, {2, 28, 28}, img));
  write("train-labels-idx1-ubyte", idx(0x08, {2}, {3, 12}));
  write("t10k-images-idx3-ubyte", idx(0x08, {2, 28, 28}, img));
  write("t10k-labels-idx1-ubyte", idx(0x08, {2}, {0, 1}));
  std::string m = test::error_message([&] { fashion_mnist(dir_.string()); });
  EXPECT_NE(m.find("label 12"), std::string::npos) << m;
  write("train-labels-idx1-ubyte", idx(0x08, {3}, {3, 1, 2}));
  m = test::error_message([&] { fashion_mnist(dir_.string()); });
  EXPECT_NE(m.find("expected 2 uint8 labels"), std::string::npos) << m;
  write("train-labels-idx1-ubyte", idx(0x08, {2}, {3, 1}));
  const auto data = fashion_mnist(dir_.string());
  EXPECT_FLOAT_EQ(data.train->x().data<float>()[0], 0.2f);  // 51 / 255
}

}  // namespace
}  // namespace tamp::io
