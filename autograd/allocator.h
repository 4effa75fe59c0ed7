// Tensor buffers. Large buffers are recycled through a size-class cache instead of going back
// to the operating system: a training step frees and reallocates the same activation sizes
// every iteration, and fresh pages cost a page fault and a clear each (15 % of a CNN step
// before this cache). Sanitized builds bypass the cache so use-after-free stays detectable.
//
//   set_buffer_cache_limit(512 << 20);   // bytes kept for reuse (default 1 GiB)
//   release_cached_buffers();           // give everything cached back
#pragma once

#include <cstddef>
#include <cstdint>

namespace tamp {

struct BufferCacheStats {
  size_t cached_bytes = 0;  // held for reuse now
  uint64_t hits = 0;        // allocations served from the cache
  uint64_t misses = 0;      // large allocations that went to the system
};

// 64-byte aligned memory of at least `nbytes`; *capacity receives the size to release with.
void* allocate_buffer(size_t nbytes, size_t* capacity);
void release_buffer(void* data, size_t capacity);

void set_buffer_cache_limit(size_t bytes);
void release_cached_buffers();
BufferCacheStats buffer_cache_stats();
bool buffer_cache_enabled();  // false in sanitized builds

}  // namespace tamp
