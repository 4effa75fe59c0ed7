#include <tamp/autograd/allocator.h>
#include <tamp/autograd/detail/sanitizer.h>
#include <tamp/autograd/error.h>

#include <pthread.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

namespace tamp {

namespace {

// The sanitizers must see every allocation and free: no reuse cache under them.
constexpr bool kCacheEnabled = !TAMP_HAS_SANITIZER;

// Below this size glibc's heap already reuses memory without system calls.
constexpr size_t kMinCached = size_t{64} << 10;

// Size classes 2^k * {4, 5, 6, 7} / 4: at most 25 % slack, few classes, good reuse.
size_t size_class(size_t n) {
  size_t power = kMinCached;
  while (power * 2 <= n) power *= 2;
  for (size_t quarter = 4; quarter <= 8; ++quarter) {
    const size_t c = power / 4 * quarter;
    if (c >= n) return c;
  }
  return power * 2;
}

struct Cache {
  std::mutex mutex;
  std::map<size_t, std::vector<void*>> free;  // capacity -> buffers
  size_t limit = size_t{1} << 30;
  BufferCacheStats stats;

  void trim_to(size_t target) {  // requires mutex held
    for (auto it = free.rbegin(); it != free.rend() && stats.cached_bytes > target; ++it) {
      while (!it->second.empty() && stats.cached_bytes > target) {
        std::free(it->second.back());
        it->second.pop_back();
        stats.cached_bytes -= it->first;
      }
    }
  }
};

Cache& cache() {
  // Never destroyed: tensors may be freed during static destruction. The lock is held across
  // fork(), so a child process (io's isolated reader) never inherits it locked by a thread it
  // does not have.
  static Cache* c = [] {
    auto* made = new Cache;
    ::pthread_atfork([] { cache().mutex.lock(); }, [] { cache().mutex.unlock(); },
                     [] { cache().mutex.unlock(); });
    return made;
  }();
  return *c;
}

void* system_alloc(size_t bytes) {
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw Error(fmt::format("cannot allocate {} bytes", bytes), ErrorKind::kIo);
  return p;
}

}  // namespace

void* allocate_buffer(size_t nbytes, size_t* capacity) {
  const size_t rounded = (std::max<size_t>(nbytes, 1) + 63) / 64 * 64;
  if (!kCacheEnabled || rounded < kMinCached) {
    *capacity = rounded;
    return system_alloc(rounded);
  }
  const size_t cls = size_class(rounded);
  *capacity = cls;
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free.find(cls);
    if (it != c.free.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.stats.cached_bytes -= cls;
      ++c.stats.hits;
      return p;
    }
    ++c.stats.misses;
  }
  try {
    return system_alloc(cls);
  } catch (const Error&) {
    release_cached_buffers();  // memory held for reuse may be what is missing
    return system_alloc(cls);
  }
}

void release_buffer(void* data, size_t capacity) {
  if (!data) return;
  if (!kCacheEnabled || capacity < kMinCached) {
    std::free(data);
    return;
  }
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  if (c.stats.cached_bytes + capacity > c.limit) {
    std::free(data);
    return;
  }
  c.free[capacity].push_back(data);
  c.stats.cached_bytes += capacity;
}

void set_buffer_cache_limit(size_t bytes) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.limit = bytes;
  c.trim_to(bytes);
}

void release_cached_buffers() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.trim_to(0);
}

bool buffer_cache_enabled() { return kCacheEnabled; }

BufferCacheStats buffer_cache_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.stats;
}

}  // namespace tamp
