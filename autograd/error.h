// tamp::Error — the one exception type of tamp. It carries context as it rises:
//
//   try { run_kernel(); }
//   catch (tamp::Error& e) { e.add_context("node 'conv1' (Conv)"); throw; }
//
// what() then reads "node 'conv1' (Conv): Conv: input [1, 3] has rank 2, expected 4"
// followed, when the fix is known, by "\nhint: ...".
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace tamp {

// What went wrong, so that a command-line tool can choose its exit code.
enum class ErrorKind {
  kInvalidInput,  // a file, a recipe or an argument is malformed or inconsistent
  kUnsupported,   // well-formed, but tamp cannot do it (an op, a dtype, an opset)
  kNumerical,     // NaN/Inf where a finite value is required
  kIo,            // a file cannot be read or written
  kInternal,      // a bug in tamp
};

class Error : public std::runtime_error {
 public:
  explicit Error(std::string message, ErrorKind kind = ErrorKind::kInvalidInput,
                 std::string hint = {});

  // Prepends where the error passed through; returns *this so handlers can `throw;`.
  Error& add_context(const std::string& where);
  Error& set_hint(std::string hint);

  const char* what() const noexcept override { return full_.c_str(); }
  const std::string& message() const { return message_; }
  const std::string& hint() const { return hint_; }
  ErrorKind kind() const { return kind_; }

 private:
  void compose();

  std::string message_;
  ErrorKind kind_;
  std::string hint_;
  std::vector<std::string> context_;  // innermost first
  std::string full_;
};

// Throws Error(fmt::format(...)) when `cond` is false.
#define TAMP_CHECK(cond, ...)                                     \
  do {                                                            \
    if (!(cond)) throw ::tamp::Error(::fmt::format(__VA_ARGS__)); \
  } while (0)

// Runs `body`; a tamp::Error escaping it gets `where` (a string expression) as context.
#define TAMP_WITH_CONTEXT(where, body) \
  do {                                 \
    try {                              \
      body;                            \
    } catch (::tamp::Error & e_) {     \
      e_.add_context(where);           \
      throw;                           \
    }                                  \
  } while (0)

}  // namespace tamp
