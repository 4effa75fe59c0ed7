// Internal: per-thread scratch buffers of the kernels (packing panels, column matrices).
#pragma once

#include <hwy/aligned_allocator.h>

#include <cstdint>
#include <new>

namespace tamp::kernels {

// At least n T, aligned for vector loads, owned by this thread; slot kSlot keeps apart the
// buffers one call needs at once. Grown on demand and kept: OpenMP threads persist, so a
// steady state allocates nothing. The contents are not kept when it grows.
template <class T, int kSlot> T* thread_scratch(int64_t n) {
  thread_local hwy::AlignedFreeUniquePtr<T[]> buffer;
  thread_local int64_t size = 0;
  if (size < n) {
    buffer = hwy::AllocateAligned<T>(static_cast<size_t>(n));
    if (!buffer) throw std::bad_alloc();
    size = n;
  }
  return buffer.get();
}

}  // namespace tamp::kernels
