#include <tamp/io/detail/isolated_read.h>

#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
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

template <class T>
void put_value(int fd, T v) {
  put(fd, &v, sizeof v);
}

void put_string(int fd, const std::string& s) {
  put_value<uint64_t>(fd, s.size());
  put(fd, s.data(), s.size());
}

[[noreturn]] void child(int fd, const std::function<NamedTensors()>& read) {
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

// Reads what the child wrote, checking every size against what is left.
class Reply {
 public:
  Reply(const char* data, size_t size, const std::string& what) : p_(data), end_(data + size), what_(what) {}

  template <class T>
  T value() {
    T v;
    std::memcpy(&v, take(sizeof v), sizeof v);
    return v;
  }
  std::string string() {
    const uint64_t n = value<uint64_t>();
    return std::string(take(n), n);
  }
  const char* take(uint64_t n) {
    if (n > static_cast<uint64_t>(end_ - p_)) {
      throw Error(fmt::format("{}: the reader process returned a truncated reply", what_), ErrorKind::kInternal);
    }
    const char* at = p_;
    p_ += n;
    return at;
  }

 private:
  const char* p_;
  const char* end_;
  const std::string& what_;
};

NamedTensors parse_reply(const char* data, size_t size, const std::string& what) {
  Reply r(data, size, what);
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
      throw Error(fmt::format("{}: the reader process returned a malformed tensor '{}'", what, name),
                  ErrorKind::kInternal);
    }
    Shape shape(rank);
    for (int64_t& d : shape) d = r.value<int64_t>();
    const uint64_t nbytes = static_cast<uint64_t>(checked_numel(shape)) * size_of(static_cast<DType>(dtype));
    const char* bytes = r.take(nbytes);  // checked before anything is allocated
    Tensor t = Tensor::empty(shape, static_cast<DType>(dtype));
    if (nbytes > 0) std::memcpy(t.raw_data(), bytes, nbytes);
    out.emplace(std::move(name), std::move(t));
  }
  return out;
}

struct Fd {
  int fd;
  ~Fd() { ::close(fd); }
};

}  // namespace

NamedTensors read_isolated(const std::function<NamedTensors()>& read, const std::string& what) {
  if (!isolation) return read();
  const Fd file{::memfd_create("tamp-read", MFD_CLOEXEC)};
  if (file.fd < 0) throw Error(fmt::format("{}: cannot create the reader's memory file: {}", what, std::strerror(errno)), ErrorKind::kIo);
  const pid_t pid = ::fork();
  if (pid < 0) throw Error(fmt::format("{}: cannot start the reader process: {}", what, std::strerror(errno)), ErrorKind::kIo);
  if (pid == 0) child(file.fd, read);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw Error(fmt::format("{}: lost the reader process: {}", what, std::strerror(errno)), ErrorKind::kIo);
  }
  if (WIFSIGNALED(status)) {
    throw Error(fmt::format("{}: the reader crashed ({}) parsing it: the file is damaged or crafted; nothing was "
                            "loaded",
                            what, ::strsignal(WTERMSIG(status))),
                ErrorKind::kInvalidInput);
  }
  if (WEXITSTATUS(status) != 0) {
    throw Error(fmt::format("{}: the reader stopped with exit code {} parsing it (a sanitizer's report, or no memory "
                            "for its reply): the file is damaged or crafted; nothing was loaded",
                            what, WEXITSTATUS(status)),
                ErrorKind::kInvalidInput);
  }
  struct stat st {};
  if (::fstat(file.fd, &st) != 0 || st.st_size <= 0) {
    throw Error(fmt::format("{}: the reader process returned nothing", what), ErrorKind::kInternal);
  }
  const size_t size = static_cast<size_t>(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, file.fd, 0);
  if (map == MAP_FAILED) throw Error(fmt::format("{}: cannot map the reader's reply: {}", what, std::strerror(errno)), ErrorKind::kIo);
  try {
    NamedTensors out = parse_reply(static_cast<const char*>(map), size, what);
    ::munmap(map, size);
    return out;
  } catch (...) {
    ::munmap(map, size);
    throw;
  }
}

void set_read_isolation(bool on) { isolation = on; }

}  // namespace tamp::io::detail
