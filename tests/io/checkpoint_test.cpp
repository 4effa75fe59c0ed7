// io/checkpoint: round trips, hostile and half-written files, kills while writing.
#include "support/temp_dir.h"

#include <tamp/io/checkpoint.h>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

namespace tamp::test {
namespace {

io::Checkpoint sample(int version, int64_t big = 1000) {
  io::Checkpoint c;
  c.tensors["param//conv1/weight"] = Tensor::full({4, 1, 3, 3}, 0.5 + version, DType::kFloat32);
  c.tensors["scalar"] = Tensor::scalar(version, DType::kInt64);
  c.tensors["f64"] = Tensor::from_vector<double>({3}, {1.5, -2.25, 1e300});
  c.tensors["empty"] = Tensor::zeros({0, 5}, DType::kFloat32);
  c.tensors["u8"] = Tensor::from_vector<uint8_t>({2}, {7, 255});
  c.tensors["big"] = Tensor::full({big}, version, DType::kFloat32);
  c.set_string("meta/hash", "abc/def");
  return c;
}

void expect_equal(const io::Checkpoint& a, const io::Checkpoint& b) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& [name, t] : a.tensors) {
    ASSERT_TRUE(b.has(name)) << name;
    const Tensor& u = b.at(name);
    EXPECT_EQ(t.dtype(), u.dtype()) << name;
    EXPECT_EQ(t.shape(), u.shape()) << name;
    EXPECT_EQ(0, std::memcmp(t.raw_data(), u.raw_data(), t.nbytes())) << name;
  }
}

TEST(Checkpoint, RoundTripsEveryEntryExactly) {
  TempDir dir;
  const io::Checkpoint c = sample(1);
  io::save_checkpoint(c, dir.file("c.h5"));
  const io::Checkpoint back = io::load_checkpoint(dir.file("c.h5"));
  expect_equal(c, back);
  EXPECT_EQ(back.string("meta/hash"), "abc/def");
  EXPECT_EQ(back.group("param/").count("/conv1/weight"), 1u);
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(e.path().filename(), "c.h5") << "temporary file left behind";
  }
}

void expect_load_error(const std::string& path, const std::string& fragment) {
  try {
    io::load_checkpoint(path);
    ADD_FAILURE() << "no error for " << fragment;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos)
        << "names the file: " << e.what();
  }
}

TEST(Checkpoint, HostileAndDamagedFilesGiveClearErrors) {
  TempDir dir;
  expect_load_error(dir.file("missing.h5"), "does not exist");
  std::ofstream(dir.file("text.h5")) << "model: x\n";
  expect_load_error(dir.file("text.h5"), "not a tamp checkpoint");
  io::save_checkpoint(sample(1, 100000), dir.file("good.h5"));
  const std::string bytes = [&] {
    std::ifstream in(dir.file("good.h5"), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  // Cut at many points: every prefix is rejected with an error, never a crash.
  for (size_t cut : {size_t{0}, size_t{100}, size_t{600}, bytes.size() / 3, bytes.size() / 2,
                     bytes.size() - 100, bytes.size() - 1}) {
    const std::string p = dir.file("cut.h5");
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(cut));
    EXPECT_THROW(io::load_checkpoint(p), Error) << "cut at " << cut;
  }
  // One flipped bit anywhere (the seal, HDF5's metadata, a tensor's bytes) is caught by the
  // seal, which names what is wrong.
  const auto write = [&](const std::string& name, const std::string& content) {
    std::ofstream(dir.file(name), std::ios::binary)
        .write(content.data(), static_cast<std::streamsize>(content.size()));
    return dir.file(name);
  };
  for (size_t at = 0; at < bytes.size(); at += at < 4096 ? 13 : 997) {
    std::string bad = bytes;
    bad[at] = static_cast<char>(bad[at] ^ (1 << (at % 8)));
    const std::string p = write("flip.h5", bad);
    const std::string want = at < 16    ? "not a tamp checkpoint"
                             : at < 20  ? "seal version"
                             : at < 24  ? "damaged: the CRC-32"
                             : at < 32  ? "truncated or appended"
                             : at < 512 ? "reserved bytes"
                                        : "damaged: the CRC-32";
    SCOPED_TRACE(fmt::format("bit flipped at byte {}", at));
    expect_load_error(p, want);
  }
  expect_load_error(write("long.h5", bytes + "x"), "appended to");
  // An HDF5 file without the seal (the same file, user block removed).
  expect_load_error(write("plain.h5", bytes.substr(512)), "HDF5 file without tamp's seal");
}

// A child writes checkpoints in a loop and is killed at many moments; the file at the path is
// always a whole checkpoint of one of the versions.
TEST(Checkpoint, KillsWhileWritingLeaveTheLastWholeCheckpoint) {
  TempDir dir;
  const std::string path = dir.file("c.h5");
  io::save_checkpoint(sample(0, 200000), path);
  for (int kill_point = 0; kill_point < 12; ++kill_point) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      for (int v = 1;; ++v) io::save_checkpoint(sample(v, 200000), path);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(1500 * kill_point + 300));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    const io::Checkpoint c = io::load_checkpoint(path);
    const int64_t v = static_cast<int64_t>(c.at("scalar").item());
    expect_equal(sample(static_cast<int>(v), 200000), c);
  }
}

}  // namespace
}  // namespace tamp::test
