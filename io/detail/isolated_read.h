// Internal to io/: runs a file reader in a child process, so that a crash inside a library
// that parses the file (libhdf5 1.10.8 crashes on many malformed files: see the README's known
// limits) becomes a tamp::Error in the caller instead of killing a training run. The child
// forks from the caller, reads, streams its tensors (or its tamp::Error) through an anonymous
// memory file and exits; the caller copies the tensors back. Crash isolation only, not a
// security boundary: the child has the caller's rights.
#pragma once

#include <tamp/autograd/tensor.h>

#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace tamp::io::detail {

using NamedTensors = std::map<std::string, Tensor>;

// `read()` in a child process; `what` names the file in the errors ("HDF5 file 'x.h5'").
// A tamp::Error thrown by `read` reaches the caller with its message and kind; a child that
// dies (a signal, a sanitizer's exit) gives kInvalidInput "... crashed ...". The child's
// address space is limited to `max_bytes` (capped at the machine's memory; not in sanitizer
// builds, whose shadow memory it would count): a file that makes the parser ask for more is an
// error, not a machine out of memory.
NamedTensors read_isolated(const std::function<NamedTensors()>& read, const std::string& what,
                           uint64_t max_bytes);

// Held around tamp's libhdf5 calls in the caller's process (save_checkpoint) and across the
// reader's fork, so that the reader never inherits libhdf5's global lock (Debian's libhdf5 is
// thread-safe) held by another thread, which it would wait on forever.
std::unique_lock<std::mutex> lock_libhdf5_in_caller();

// False in sanitizer builds, where the child's address space is not limited.
bool reader_memory_is_limited();

// In-process reads for the fuzz targets, whose coverage feedback stops at a fork (default: on).
void set_read_isolation(bool on);

}  // namespace tamp::io::detail
