#include <tamp/io/detail/isolated_read.h>

#include <tamp/autograd/detail/sanitizer.h>
#include <tamp/autograd/threads.h>

#include <signal.h>
#include <string.h>
#include <sys/mman.h>  // memfd_create
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace tamp::io::detail {

namespace {

std::atomic<bool> isolation{true};

// Child to parent, native byte order (same machine, same binary): a status byte, then for
// 'T' the tensors (u64 name length, name, i32 dtype, u64 rank, i64 dims, the bytes) or for
// 'E' an i32 ErrorKind and the message.
void put(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ::_exit(4);  // the memory file cannot grow: the parent reports it
    p += n;
    size -= static_cast<size_t>(n);
  }
}

template <class T> void put_value(int fd, T v) { put(fd, &v, sizeof v); }

void put_string(int fd, const std::string& s) {
  put_value<uint64_t>(fd, s.size());
  put(fd, s.data(), s.size());
}

// The limit for the child's address space: what it inherited from the caller plus what the
// caller allows the reader, at most the machine's memory.
rlim_t address_space_limit(uint64_t max_bytes) {
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGE_SIZE));
  const uint64_t ram = static_cast<uint64_t>(::sysconf(_SC_PHYS_PAGES)) * page;
  uint64_t inherited_pages = 0;
  if (std::FILE* statm = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(statm, "%lu", &inherited_pages) != 1) inherited_pages = 0;
    std::fclose(statm);
  }
  return static_cast<rlim_t>(inherited_pages * page + std::min(max_bytes, ram));
}

[[noreturn]] void child(int fd, const std::function<NamedTensors()>& read, uint64_t max_bytes) {
  // The caller's OpenMP threads were not forked: a parallel region here would wait for them.
  set_num_threads(1);
  if (reader_memory_is_limited()) {
    const rlim_t bytes = address_space_limit(max_bytes);
    const struct rlimit limit { bytes, bytes };
    ::setrlimit(RLIMIT_AS, &limit);
  }
  try {
    const NamedTensors tensors = read();
    put_value<char>(fd, 'T');
    put_value<uint64_t>(fd, tensors.size());
    for (const auto& [name, t] : tensors) {
      put_string(fd, name);
      put_value<int32_t>(fd, static_cast<int32_t>(t.dtype()));
      put_value<uint64_t>(fd, t.shape().size());
      for (int64_t d : t.shape()) put_value<int64_t>(fd, d);
      put(fd, t.raw_data(), static_cast<size_t>(t.nbytes()));
    }
  } catch (const Error& e) {
    put_value<char>(fd, 'E');
    put_value<int32_t>(fd, static_cast<int32_t>(e.kind()));
    put_string(fd, e.what());
  } catch (const std::exception& e) {
    put_value<char>(fd, 'E');
    put_value<int32_t>(fd, static_cast<int32_t>(ErrorKind::kInternal));
    put_string(fd, e.what());
  }
  ::_exit(0);  // no atexit handlers, no destructors of the parent's objects
}

// Reads what the child wrote, checking every size against what is left; tensor bytes go
// straight from the memory file into the tensors (no mapping, no second copy).
class Reply {
 public:
  Reply(int fd, uint64_t size, const std::string& what) : fd_(fd), left_(size), what_(what) {}

  template <class T> T value() {
    T v;
    read_into(&v, sizeof v);
    return v;
  }
  std::string string() {
    std::string s(check(value<uint64_t>()), '\0');
    read_into(s.data(), s.size());
    return s;
  }
  // n, if that many bytes are left.
  uint64_t check(uint64_t n) const {
    if (n > left_)
      throw Error(fmt::format("{}: the reader process returned a truncated reply", what_),
                  ErrorKind::kInternal);
    return n;
  }
  void read_into(void* dst, uint64_t n) {
    check(n);
    for (char* p = static_cast<char*>(dst); n > 0;) {
      const ssize_t got = ::pread(fd_, p, n, static_cast<off_t>(offset_));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0)
        throw Error(fmt::format("{}: cannot read the reader's reply", what_), ErrorKind::kIo);
      p += got;
      n -= static_cast<uint64_t>(got);
      offset_ += static_cast<uint64_t>(got);
      left_ -= static_cast<uint64_t>(got);
    }
  }

 private:
  int fd_;
  uint64_t offset_ = 0, left_;
  const std::string& what_;
};

NamedTensors parse_reply(int fd, uint64_t size, const std::string& what) {
  Reply r(fd, size, what);
  if (r.value<char>() == 'E') {
    const auto kind = static_cast<ErrorKind>(r.value<int32_t>());
    throw Error(r.string(), kind);
  }
  NamedTensors out;
  for (uint64_t i = 0, n = r.value<uint64_t>(); i < n; ++i) {
    std::string name = r.string();
    const int32_t dtype = r.value<int32_t>();
    const uint64_t rank = r.value<uint64_t>();
    if (dtype < 0 || dtype > static_cast<int32_t>(DType::kBool) || rank > 64) {
      throw Error(
          fmt::format("{}: the reader process returned a malformed tensor '{}'", what, name),
          ErrorKind::kInternal);
    }
    Shape shape(rank);
    for (int64_t& d : shape) d = r.value<int64_t>();
    const uint64_t nbytes =
        static_cast<uint64_t>(checked_numel(shape)) * size_of(static_cast<DType>(dtype));
    r.check(nbytes);  // before anything is allocated
    Tensor t = Tensor::empty(shape, static_cast<DType>(dtype));
    r.read_into(t.raw_data(), nbytes);
    out.emplace(std::move(name), std::move(t));
  }
  return out;
}

struct Fd {
  int fd;
  ~Fd() { ::close(fd); }
};

}  // namespace

NamedTensors read_isolated(const std::function<NamedTensors()>& read, const std::string& what,
                           uint64_t max_bytes) {
  if (!isolation) return read();
  const Fd file{::memfd_create("tamp-read", MFD_CLOEXEC)};
  if (file.fd < 0)
    throw Error(
        fmt::format("{}: cannot create the reader's memory file: {}", what, std::strerror(errno)),
        ErrorKind::kIo);
  pid_t pid = 0;
  {
    const auto no_libhdf5_call_in_flight = lock_libhdf5_in_caller();
    pid = ::fork();
  }
  if (pid < 0)
    throw Error(fmt::format("{}: cannot start the reader process: {}", what, std::strerror(errno)),
                ErrorKind::kIo);
  if (pid == 0) child(file.fd, read, max_bytes);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR)
      throw Error(fmt::format("{}: lost the reader process: {}", what, std::strerror(errno)),
                  ErrorKind::kIo);
  }
  if (WIFSIGNALED(status)) {
    throw Error(
        fmt::format(
            "{}: the reader crashed ({}) parsing it: the file is damaged or crafted; nothing was "
            "loaded",
            what, ::strsignal(WTERMSIG(status))),
        ErrorKind::kInvalidInput);
  }
  if (WEXITSTATUS(status) != 0) {
    throw Error(fmt::format("{}: the reader stopped with exit code {} parsing it (a sanitizer's "
                            "report, or no memory "
                            "for its reply): the file is damaged or crafted; nothing was loaded",
                            what, WEXITSTATUS(status)),
                ErrorKind::kInvalidInput);
  }
  struct stat st {};
  if (::fstat(file.fd, &st) != 0 || st.st_size <= 0) {
    throw Error(fmt::format("{}: the reader process returned nothing", what), ErrorKind::kInternal);
  }
  return parse_reply(file.fd, static_cast<uint64_t>(st.st_size), what);
}

std::unique_lock<std::mutex> lock_libhdf5_in_caller() {
  static std::mutex m;
  return std::unique_lock<std::mutex>(m);
}

void set_read_isolation(bool on) { isolation = on; }

bool reader_memory_is_limited() { return !TAMP_HAS_SANITIZER; }

}  // namespace tamp::io::detail
