#include <tamp/io/hdf5_dataset.h>

#include "support/expect.h"

#include <H5Cpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace tamp::io {
namespace {

namespace fs = std::filesystem;

class Hdf5Files : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("tamp_h5_{}_{}", ::getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  template <class T> static void put(H5::H5File& f, const std::string& name,
                                     const std::vector<hsize_t>& dims, const std::vector<T>& v,
                                     const H5::PredType& type) {
    H5::DataSpace space(static_cast<int>(dims.size()), dims.data());
    H5::DataSet ds = f.createDataSet(name, type, space);
    ds.write(v.data(), type);
  }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

TEST_F(Hdf5Files, ReadsBackWhatWasWritten) {
  {
    H5::H5File f(path("d.h5"), H5F_ACC_TRUNC);
    std::vector<double> x(4 * 2 * 3);
    for (size_t i = 0; i < x.size(); ++i) x[i] = 0.5 * static_cast<double>(i);
    put(f, "x", {4, 2, 3}, x, H5::PredType::NATIVE_DOUBLE);
    put(f, "y", {4}, std::vector<int32_t>{3, 0, 7, 1}, H5::PredType::NATIVE_INT32);
    put(f, "targets", {4, 2}, std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8},
        H5::PredType::NATIVE_FLOAT);
  }
  auto data = hdf5_dataset(path("d.h5"));
  ASSERT_EQ(data->size(), 4);
  EXPECT_EQ(data->x().shape(), Shape({4, 2, 3}));
  EXPECT_EQ(data->x().dtype(), DType::kFloat32);
  EXPECT_EQ(data->x().data<float>()[23], 11.5f);
  EXPECT_EQ(data->y().dtype(), DType::kInt64);
  EXPECT_EQ(data->y().to_vector<int64_t>(), std::vector<int64_t>({3, 0, 7, 1}));
  auto regression = hdf5_dataset(path("d.h5"), "x", "targets");
  EXPECT_EQ(regression->y().dtype(), DType::kFloat32);
  EXPECT_EQ(regression->y().shape(), Shape({4, 2}));
  nn::Batch b = data->get_batch({2});
  EXPECT_EQ(b.y.to_vector<int64_t>(), std::vector<int64_t>({7}));
}

// Integer inputs keep their type: token ids beyond float32's 24-bit mantissa stay exact, and
// uint8 images stay one byte each (the model's input decides, scheduler/evaluate.h fit_input).
TEST_F(Hdf5Files, IntegerInputsKeepTheirType) {
  const int64_t big = (int64_t{1} << 40) + 1;
  {
    H5::H5File f(path("ids.h5"), H5F_ACC_TRUNC);
    put(f, "x", {2, 2}, std::vector<int64_t>{big, 7, -3, 0}, H5::PredType::NATIVE_INT64);
    put(f, "y", {2}, std::vector<int64_t>{1, 0}, H5::PredType::NATIVE_INT64);
    put(f, "img", {2, 2}, std::vector<uint8_t>{0, 255, 17, 3}, H5::PredType::NATIVE_UINT8);
    put(f, "short", {2, 2}, std::vector<int16_t>{-300, 2, 3, 4}, H5::PredType::NATIVE_INT16);
  }
  auto ids = hdf5_dataset(path("ids.h5"));
  EXPECT_EQ(ids->x().dtype(), DType::kInt64);
  EXPECT_EQ(ids->x().to_vector<int64_t>(), std::vector<int64_t>({big, 7, -3, 0}));
  auto img = hdf5_dataset(path("ids.h5"), "img");
  EXPECT_EQ(img->x().dtype(), DType::kUInt8);
  EXPECT_EQ(img->x().to_vector<uint8_t>(), std::vector<uint8_t>({0, 255, 17, 3}));
  auto shorts = hdf5_dataset(path("ids.h5"), "short");
  EXPECT_EQ(shorts->x().dtype(), DType::kInt16);
  EXPECT_EQ(shorts->x().to_vector<int16_t>(), std::vector<int16_t>({-300, 2, 3, 4}));
}

TEST_F(Hdf5Files, ErrorsNameTheFileAndTheDataset) {
  {
    H5::H5File f(path("bad.h5"), H5F_ACC_TRUNC);
    put(f, "x", {3, 2}, std::vector<float>(6, 1.0f), H5::PredType::NATIVE_FLOAT);
    put(f, "y", {4}, std::vector<int64_t>{0, 1, 2, 3}, H5::PredType::NATIVE_INT64);
    H5::DataSet scalar =
        f.createDataSet("s", H5::PredType::NATIVE_FLOAT, H5::DataSpace(H5S_SCALAR));
    const float one = 1;
    scalar.write(&one, H5::PredType::NATIVE_FLOAT);
    H5::StrType str(H5::PredType::C_S1, 5);
    f.createDataSet("names", str, H5::DataSpace(H5S_SCALAR));
  }
  std::string m = test::error_message([&] { hdf5_dataset(path("bad.h5")); });
  EXPECT_NE(m.find("holds 3 examples but 'y' holds 4"), std::string::npos) << m;
  m = test::error_message([&] { hdf5_dataset(path("bad.h5"), "x", "labels"); });
  EXPECT_NE(m.find("no dataset 'labels'"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.h5"), std::string::npos) << m;
  m = test::error_message([&] { hdf5_dataset(path("bad.h5"), "s", "y"); });
  EXPECT_NE(m.find("rank 0"), std::string::npos) << m;
  m = test::error_message([&] { hdf5_dataset(path("bad.h5"), "names", "y"); });
  EXPECT_NE(m.find("not numeric"), std::string::npos) << m;
  m = test::error_message([&] { hdf5_dataset(path("absent.h5")); });
  EXPECT_NE(m.find("does not exist"), std::string::npos) << m;
  std::ofstream(path("garbage.h5")) << "this is not an HDF5 file";
  m = test::error_message([&] { hdf5_dataset(path("garbage.h5")); });
  EXPECT_NE(m.find("cannot be read"), std::string::npos) << m;
}

// Chunked datasets: compressed data loads (constant values pack ~1000:1 under deflate); a
// dataset whose chunks were mostly never written, or whose storage is smaller than raw
// contiguous data, is refused before anything is allocated.
TEST_F(Hdf5Files, StorageSmallerThanTheShapeNeedsIsRefused) {
  const hsize_t rows = 4096, cols = 256, chunk[2] = {64, 256};
  {
    H5::H5File f(path("chunks.h5"), H5F_ACC_TRUNC);
    H5::DSetCreatPropList deflate;
    deflate.setChunk(2, chunk);
    deflate.setDeflate(9);
    const hsize_t dims[2] = {rows, cols};
    H5::DataSet x =
        f.createDataSet("x", H5::PredType::NATIVE_FLOAT, H5::DataSpace(2, dims), deflate);
    x.write(std::vector<float>(rows * cols, 0.5f).data(), H5::PredType::NATIVE_FLOAT);
    H5::DataSet sparse =
        f.createDataSet("sparse", H5::PredType::NATIVE_FLOAT, H5::DataSpace(2, dims), deflate);
    H5::DataSpace file_part(2, dims);
    const hsize_t start[2] = {0, 0};
    file_part.selectHyperslab(H5S_SELECT_SET, chunk, start);
    sparse.write(std::vector<float>(64 * 256, 0.5f).data(), H5::PredType::NATIVE_FLOAT,
                 H5::DataSpace(2, chunk), file_part);
    put(f, "y", {rows}, std::vector<int32_t>(rows, 1), H5::PredType::NATIVE_INT32);
  }
  auto data = hdf5_dataset(path("chunks.h5"));
  EXPECT_EQ(data->x().shape(), Shape({4096, 256}));
  EXPECT_EQ(data->x().data<float>()[rows * cols - 1], 0.5f);
  const std::string m =
      test::error_message([&] { hdf5_dataset(path("chunks.h5"), "sparse", "y"); });
  EXPECT_NE(m.find("dataset 'sparse' stores"), std::string::npos) << m;
  EXPECT_NE(m.find("never fully written"), std::string::npos) << m;
}

}  // namespace
}  // namespace tamp::io
