// SGEMM throughput of tamp's GEMM kernel (Eigen, AVX-512) on the shapes the reference models
// use, against the machine's measured fp32 FMA peak (the ceiling any GEMM can reach).
//
//   gemm_bench [--benchmark_filter=...]      (Google Benchmark; threads via TAMP_THREADS)
//   gemm_bench --benchmark_enable_random_interleaving=true --benchmark_repetitions=5
//              --benchmark_report_aggregates_only=true   (tamp's kernel and Eigen's, alternated)
#include <tamp/autograd/kernels/gemm.h>
#include <tamp/autograd/threads.h>

#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <cstdlib>
#include <vector>

namespace {

int threads() {
  const char* t = std::getenv("TAMP_THREADS");
  return t ? std::atoi(t) : 1;
}

// 16 independent accumulator chains of 512-bit FMAs: 32 flop per instruction.
void BM_FmaPeak(benchmark::State& state) {
#if defined(__AVX512F__)
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(0.001f);
  constexpr int64_t kIters = 1 << 20;
  for (auto _ : state) {
    for (int64_t it = 0; it < kIters; ++it) {
      for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    }
    for (int i = 0; i < 16; ++i) benchmark::DoNotOptimize(acc[i]);
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(static_cast<double>(kIters) * 16 * 32 * state.iterations() / 1e9,
                         benchmark::Counter::kIsRate);
#else
  state.SkipWithError("built without AVX-512");
#endif
}
BENCHMARK(BM_FmaPeak)->Unit(benchmark::kMillisecond);

using GemmFn = void (*)(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                        const float*, int64_t, float, float*, int64_t);

// kernels::gemm (tamp's AVX-512 kernel on this build) and kernels::gemm_eigen (Eigen's GEMM),
// on the same shapes; run with --benchmark_enable_random_interleaving=true
// --benchmark_repetitions=N to alternate them on a shared machine.
void BM_Sgemm(benchmark::State& state, GemmFn gemm) {
  tamp::set_num_threads(threads());
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  const bool ta = state.range(3) & 1, tb = state.range(3) & 2;
  std::vector<float> a(m * k, 0.5f), b(k * n, 0.25f), c(m * n);
  for (auto _ : state) {
    gemm(ta, tb, m, n, k, 1.0f, a.data(), ta ? m : k, b.data(), tb ? k : n, 0.0f, c.data(), n);
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * m * n * k * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

// {M, K, N, transpose bits (1: A, 2: B)}
void model_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"M", "K", "N", "trans"})
      ->Args({512, 512, 512, 0})
      ->Args({1024, 1024, 1024, 0})
      ->Args({64, 784, 512, 2})    // MLP fc1 forward (Gemm transB)
      ->Args({512, 64, 784, 1})    // MLP fc1 weight gradient
      ->Args({4096, 128, 128, 2})  // transformer q/k/v/proj forward (64 x 64 rows)
      ->Args({128, 4096, 128, 1})  // their weight gradient
      ->Args({4096, 128, 512, 2})  // transformer ff1 forward
      ->Args({4096, 512, 128, 2})  // transformer ff2 forward
      ->Args({4096, 128, 512, 0})  // ff2 input gradient (dY * W)
      ->Args({64, 32, 64, 0})      // one attention head (QK^T)
      ->Args({64, 256, 10, 2})     // last layer, N = 10
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
}
BENCHMARK_CAPTURE(BM_Sgemm, tamp, static_cast<GemmFn>(tamp::kernels::gemm))->Apply(model_shapes);
BENCHMARK_CAPTURE(BM_Sgemm, eigen, static_cast<GemmFn>(tamp::kernels::gemm_eigen))
    ->Apply(model_shapes);

}  // namespace

BENCHMARK_MAIN();
