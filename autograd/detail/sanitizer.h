// Internal: TAMP_HAS_SANITIZER is 1 in builds with AddressSanitizer, ThreadSanitizer or
// MemorySanitizer (the asan preset), 0 otherwise. GCC says so through __SANITIZE_*__, clang
// through __has_feature.
#pragma once

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TAMP_HAS_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define TAMP_HAS_SANITIZER 1
#endif
#endif
#ifndef TAMP_HAS_SANITIZER
#define TAMP_HAS_SANITIZER 0
#endif
