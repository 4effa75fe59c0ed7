// Internal: splitting a loop over OpenMP threads, for kernels.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <exception>

namespace tamp::kernels {

// Calls f(begin, end) on disjoint chunks of [0, n), in parallel when n is at least `grain`
// per thread and we are not already inside a parallel region. An exception thrown by f (one
// of them, when several threads throw) is rethrown here: it may not leave an OpenMP region.
template <class F> void parallel_for(int64_t n, int64_t grain, F&& f) {
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t chunks = std::min<int64_t>(threads, grain > 0 ? n / grain : n);
  if (chunks <= 1) {
    if (n > 0) f(int64_t{0}, n);
    return;
  }
  std::exception_ptr failure;
#pragma omp parallel num_threads(static_cast <int>(chunks))
  {
    const int64_t t = omp_get_thread_num();
    const int64_t begin = n * t / chunks;
    const int64_t end = n * (t + 1) / chunks;
    try {
      if (begin < end) f(begin, end);
    } catch (...) {
#pragma omp critical(tamp_parallel_for_failure)
      failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

}  // namespace tamp::kernels
