// io/detail/isolated_read: tensors and errors come back from the reader process exactly; a
// reader that crashes is an error in the caller; the inputs that crash Debian's libhdf5 1.10.8
// (found by the checkpoint and hdf5_dataset fuzzers) give errors through the public loaders.
#include "support/ort_runner.h"
#include "support/temp_dir.h"

#include <tamp/io/checkpoint.h>
#include <tamp/io/detail/checkpoint_seal.h>
#include <tamp/io/detail/isolated_read.h>
#include <tamp/io/hdf5_dataset.h>

#include <tamp/autograd/allocator.h>
#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/threads.h>

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <sstream>
#include <thread>

namespace tamp::test {
namespace {

using io::detail::NamedTensors;
using io::detail::read_isolated;

TEST(IsolatedRead, TensorsOfEveryDtypeComeBackExactly) {
  NamedTensors sent;
  sent["f32"] = Tensor::from_vector<float>({2, 2}, {1.5f, -0.0f, 3e38f, 1e-45f});
  sent["f64"] = Tensor::from_vector<double>({1}, {-2.25});
  sent["i64 scalar"] = Tensor::scalar(-7, DType::kInt64);
  sent["u8/with/slashes"] = Tensor::from_vector<uint8_t>({3}, {0, 128, 255});
  sent["bool"] = Tensor::full({2}, 1, DType::kBool);
  sent["empty"] = Tensor::zeros({0, 3}, DType::kFloat32);
  sent["big"] = Tensor::full({1 << 20}, 0.25, DType::kFloat32);
  const NamedTensors got = read_isolated([&] { return sent; }, "test", uint64_t{1} << 30);
  ASSERT_EQ(got.size(), sent.size());
  for (const auto& [name, t] : sent) {
    ASSERT_EQ(got.count(name), 1u) << name;
    const Tensor& u = got.at(name);
    EXPECT_EQ(u.dtype(), t.dtype()) << name;
    EXPECT_EQ(u.shape(), t.shape()) << name;
    EXPECT_EQ(0, std::memcmp(u.raw_data(), t.raw_data(), t.nbytes())) << name;
  }
}

TEST(IsolatedRead, ATampErrorKeepsItsMessageAndKind) {
  try {
    read_isolated(
        []() -> NamedTensors { throw Error("entry 'w': no such thing", ErrorKind::kUnsupported); },
        "f", uint64_t{1} << 30);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "entry 'w': no such thing");
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
  }
}

TEST(IsolatedRead, AReaderThatCrashesIsAnErrorInTheCaller) {
  try {
    read_isolated(
        []() -> NamedTensors {
          ::raise(SIGSEGV);
          return {};
        },
        "HDF5 file 'x.h5'", uint64_t{1} << 30);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("HDF5 file 'x.h5': the reader"), std::string::npos) << m;
    EXPECT_NE(m.find("nothing was loaded"), std::string::npos) << m;
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
  }
}

// Runs `one` `times` times on another thread and says whether it came back. A hang is a
// minute without one run finishing (a loaded machine only slows the runs down: the whole
// loop may take longer than that); a reader that hangs in its process is then killed
// (SIGKILL to every child of this process), so a hang fails the test instead of stopping the
// suite.
bool comes_back(int times, const std::function<void()>& one) {
  std::atomic<int> finished{0};
  auto done = std::async(std::launch::async, [&] {
    for (int i = 0; i < times; ++i, ++finished) one();
  });
  for (int seen = -1; seen != finished.load();) {
    seen = finished.load();
    if (done.wait_for(std::chrono::minutes(1)) == std::future_status::ready) {
      done.get();
      return true;
    }
  }
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::ifstream stat(e.path() / "stat");
    std::string line;
    if (!std::getline(stat, line) || line.rfind(')') == std::string::npos) continue;
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    char state = 0;
    int ppid = 0;
    rest >> state >> ppid;
    if (ppid == ::getpid()) ::kill(std::stoi(e.path().filename().string()), SIGKILL);
  }
  EXPECT_THROW(done.get(), Error);  // "the reader crashed (Killed)"
  return false;
}

// The caller's OpenMP threads do not exist in the reader's process: a reader that runs a
// parallel kernel after the calling thread did must not wait for them.
TEST(IsolatedRead, AReaderRunsParallelKernelsAfterTheCallerDid) {
  auto count = [] {
    std::atomic<int64_t> n{0};
    kernels::parallel_for(1 << 20, 1, [&](int64_t b, int64_t e) { n += e - b; });
    return n.load();
  };
  set_num_threads(2);
  int64_t in_caller = 0;
  EXPECT_TRUE(comes_back(1, [&] {
    in_caller = count();  // on the thread that forks next
    for (int i = 0; i < 3; ++i) {
      read_isolated(
          [&] {
            return NamedTensors{{"n", Tensor::scalar(static_cast<double>(count()), DType::kInt64)}};
          },
          "test", uint64_t{1} << 30);
    }
  }));
  EXPECT_EQ(in_caller, 1 << 20);
}

// Another thread allocating tensors at the moment of the fork (a data loader prefetching)
// may hold the tensor allocator's lock: the reader must still allocate.
TEST(IsolatedRead, AReaderAllocatesWhileAnotherThreadOfTheCallerDoes) {
  // Sanitizer builds have no cache, so no lock of tamp's to test; and there the sanitizer's
  // own allocator can hang a child forked while another thread allocates (seen once in CI).
  if (!buffer_cache_enabled()) GTEST_SKIP() << "the tensor buffer cache is off in this build";
  std::atomic<bool> stop{false};
  std::thread allocating([&] {
    while (!stop) Tensor t = Tensor::empty({1 << 16}, DType::kFloat32);  // cached sizes: the lock
  });
  const bool ok = comes_back(200, [] {
    read_isolated(
        [] {
          return NamedTensors{{"t", Tensor::zeros({1 << 16}, DType::kFloat32)}};
        },
        "test", uint64_t{1} << 30);
  });
  stop = true;
  allocating.join();
  EXPECT_TRUE(ok);
}

// Another thread saving a checkpoint at the moment of the fork may hold libhdf5's global lock
// (Debian builds it thread-safe): the reader, which opens the file with libhdf5, must not
// inherit it held.
TEST(IsolatedRead, ACheckpointLoadsWhileAnotherThreadSavesOne) {
  TempDir dir;
  io::Checkpoint c;
  c.set_group("w", {{"a", Tensor::full({1 << 12}, 0.5, DType::kFloat32)}});
  io::save_checkpoint(c, dir.file("load.h5"));
  std::atomic<bool> stop{false};
  std::thread saving([&] {
    while (!stop) io::save_checkpoint(c, dir.file("save.h5"));
  });
  const bool ok = comes_back(100, [&] { io::load_checkpoint(dir.file("load.h5")); });
  stop = true;
  saving.join();
  EXPECT_TRUE(ok);
}

// Each input crashed libhdf5 inside the fuzzer's process (the triage put the innermost frame
// in libhdf5_serial.so). Through the loaders every one is a tamp::Error; a crash shows as
// "the reader crashed" (the ones that only read out of bounds need a sanitizer to stop).
std::vector<std::string> crash_inputs(const std::string& target) {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(
           source_dir() + "/tests/data/libhdf5_crashes/" + target)) {
    files.push_back(e.path().string());
  }
  return files;
}

TEST(IsolatedRead, InputsThatCrashLibhdf5AreErrorsThroughTheLoaders) {
  TempDir dir;
  int crashed = 0, files = 0;
  // Loading `f` must throw a tamp::Error; counts those that say the reader died.
  const auto expect_error = [&](const std::string& f, const std::function<void()>& load) {
    ++files;
    try {
      load();
      ADD_FAILURE() << "no error for " << f;
    } catch (const Error& e) {
      crashed += std::string(e.what()).find("nothing was loaded") != std::string::npos;
    }
  };
  for (const std::string& f : crash_inputs("hdf5_dataset"))
    expect_error(f, [&] { io::hdf5_dataset(f); });
  for (const std::string& f : crash_inputs("checkpoint")) {
    // As the fuzz target did: the file sealed, as a crafted checkpoint would be.
    const std::string sealed = dir.file("sealed.h5");
    std::filesystem::copy_file(f, sealed, std::filesystem::copy_options::overwrite_existing);
    io::detail::seal_checkpoint(sealed);
    expect_error(f, [&] { io::load_checkpoint(sealed); });
  }
  EXPECT_GE(files, 10);
  EXPECT_GE(crashed, files / 2) << "most of these crash libhdf5 in any build";
}

// A 2 KB dataset file (found by the hdf5_dataset fuzzer) on which libhdf5's read of 3 elements
// asks for 22 GB and a minute. The reader's address-space limit turns it into an error within
// seconds, the reader process never resident above ~1.3 GB. Sanitizer builds set no limit (it would
// count their shadow memory), so there the file would really take 22 GB: the release suite runs
// this test.
TEST(IsolatedRead, AFileThatMakesLibhdf5AskForTooMuchMemoryIsAnError) {
  if (!io::detail::reader_memory_is_limited()) {
    GTEST_SKIP() << "no address-space limit under a sanitizer; the release suite runs this test";
  }
  const std::string f =
      source_dir() + "/tests/data/libhdf5_memory/oom-b6ed605c29df81912fed040e5c0a194d99bc3e92";
  EXPECT_THROW(io::hdf5_dataset(f), Error);
  struct rusage children {};
  ::getrusage(RUSAGE_CHILDREN, &children);  // the largest resident size of any reader so far
  EXPECT_LT(children.ru_maxrss, 4L << 20) << "KiB";
}

}  // namespace
}  // namespace tamp::test
