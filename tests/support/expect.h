// Shared expectations: values close to a reference, and errors that name their cause.
//
//   expect_close(got, want, {.atol = 1e-6, .rtol = 1e-4});       // element by element
//   expect_close(out, ort_out, {.rtol_of_max = 1e-4}, "logits");  // relative to the largest value
//   expect_error([&] { load(path); }, ErrorKind::kInvalidInput, {"dims", "negative"});
#pragma once

#include <tamp/autograd/error.h>
#include <tamp/autograd/tensor.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace tamp::test {

// Element i passes when |got_i - want_i| <= atol + rtol * |want_i| + rtol_of_max * max_j |want_j|.
struct Tolerance {
  double atol = 0;
  double rtol = 0;
  double rtol_of_max = 0;  // for outputs compared as a whole (logits, feature maps)
};

namespace detail {

// One failure per call, naming how many elements are off and the worst of them, rather than
// one line per element.
template <class Got, class Want>
void expect_close_elements(int64_t n, Got got, Want want, Tolerance tol, const std::string& what) {
  double largest = 0;
  for (int64_t i = 0; i < n; ++i) largest = std::max(largest, std::abs(want(i)));
  int64_t off = 0, worst = -1;
  double worst_ratio = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double g = got(i), w = want(i);
    const double bound = tol.atol + tol.rtol * std::abs(w) + tol.rtol_of_max * largest;
    const double err = std::abs(g - w);
    if (err <= bound) continue;  // NaN falls through: it never passes
    ++off;
    const double ratio = bound > 0 ? err / bound : INFINITY;
    if (worst < 0 || !(ratio <= worst_ratio)) worst = i, worst_ratio = ratio;
  }
  if (off == 0) return;
  const double g = got(worst), w = want(worst);
  ADD_FAILURE() << what << (what.empty() ? "" : ": ") << off << " of " << n
                << " elements differ; worst element " << worst << ": got " << g << ", want " << w
                << ", |diff| " << std::abs(g - w) << " > bound "
                << tol.atol + tol.rtol * std::abs(w) + tol.rtol_of_max * largest;
}

}  // namespace detail

// Same shape, same dtype and every element close.
inline void expect_close(const Tensor& got, const Tensor& want, Tolerance tol,
                         const std::string& what = "") {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  detail::expect_close_elements(
      want.numel(), [&](int64_t i) { return got.at(i); }, [&](int64_t i) { return want.at(i); },
      tol, what);
}

inline void expect_close(const Tensor& got, const std::vector<double>& want, Tolerance tol,
                         const std::string& what = "") {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size())) << what;
  detail::expect_close_elements(
      got.numel(), [&](int64_t i) { return got.at(i); },
      [&](int64_t i) { return want[static_cast<size_t>(i)]; }, tol, what);
}

template <class T> void expect_close(const std::vector<T>& got, const std::vector<double>& want,
                                     Tolerance tol, const std::string& what = "") {
  ASSERT_EQ(got.size(), want.size()) << what;
  detail::expect_close_elements(
      static_cast<int64_t>(want.size()),
      [&](int64_t i) { return static_cast<double>(got[static_cast<size_t>(i)]); },
      [&](int64_t i) { return want[static_cast<size_t>(i)]; }, tol, what);
}

// The message of the tamp::Error `f` throws, or "(no error)" (for tests that match it loosely).
inline std::string error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// Expects `f` to throw tamp::Error whose message contains every one of `parts`, and, when
// `kind` is given, of that kind. Returns the message ("" when nothing was thrown) for further
// checks.
inline std::string expect_error(const std::function<void()>& f, std::optional<ErrorKind> kind,
                                const std::vector<std::string>& parts) {
  try {
    f();
  } catch (const Error& e) {
    const std::string message = e.what();
    if (kind) {
      EXPECT_EQ(e.kind(), *kind) << message;
    }
    for (const std::string& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
    }
    return message;
  }
  ADD_FAILURE() << "no error; expected one containing '" << (parts.empty() ? "" : parts.front())
                << "'";
  return "";
}

inline std::string expect_error(const std::function<void()>& f,
                                const std::vector<std::string>& parts) {
  return expect_error(f, std::nullopt, parts);
}

}  // namespace tamp::test
