// What reading checkpoints in a child process costs (io/detail/isolated_read): one sealed
// checkpoint loaded in this process and through the isolated reader, alternately, after a
// warm-up; medians and the ratio. --resident-mib keeps that much memory touched in the caller,
// as a training process has (the fork copies its page tables).
//   build/release/benchmarks/bench_isolated_read --mib 100 --resident-mib 2000 --rounds 7
#include <tamp/io/checkpoint.h>
#include <tamp/io/detail/isolated_read.h>

#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <vector>

int main(int argc, char** argv) {
  using namespace tamp;
  CLI::App app{"checkpoint load time, in-process vs isolated reader"};
  int64_t mib = 100, resident_mib = 0, rounds = 7;
  app.add_option("--mib", mib, "checkpoint size (20 float32 tensors)")->check(CLI::Range(1, 16384));
  app.add_option("--resident-mib", resident_mib, "memory the caller keeps touched")
      ->check(CLI::Range(0, 65536));
  app.add_option("--rounds", rounds, "timed loads per mode")->check(CLI::Range(1, 1000));
  CLI11_PARSE(app, argc, argv);

  const std::string path =
      (std::filesystem::temp_directory_path() / fmt::format("tamp_bench_{}.h5", ::getpid()))
          .string();
  io::Checkpoint c;
  for (int i = 0; i < 20; ++i)
    c.tensors[fmt::format("param/w{}", i)] =
        Tensor::full({mib * 262144 / 20}, 0.5, DType::kFloat32);
  io::save_checkpoint(c, path);
  std::vector<char> resident(static_cast<size_t>(resident_mib) << 20, 1);

  std::vector<double> ms[2];
  for (int64_t r = -1; r < rounds; ++r) {  // round -1 warms up
    for (int isolated = 0; isolated < 2; ++isolated) {
      io::detail::set_read_isolation(isolated);
      const auto t0 = std::chrono::steady_clock::now();
      const io::Checkpoint back = io::load_checkpoint(path);
      const double t =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (r >= 0) ms[isolated].push_back(t);
    }
  }
  std::filesystem::remove(path);
  for (auto& v : ms) std::sort(v.begin(), v.end());
  const double a = ms[0][ms[0].size() / 2], b = ms[1][ms[1].size() / 2];
  std::printf(
      "%lld MiB checkpoint, %lld MiB resident in the caller: in-process %.1f ms, isolated %.1f ms "
      "(medians of %lld), ratio %.2f\n",
      static_cast<long long>(mib), static_cast<long long>(resident_mib), a, b,
      static_cast<long long>(rounds), b / a);
  return resident.empty() || resident[resident.size() / 2] == 1 ? 0 : 1;
}
