#include <tamp/autograd/error.h>

namespace tamp {

Error::Error(std::string message, ErrorKind kind, std::string hint)
    : std::runtime_error(message),
      message_(std::move(message)),
      kind_(kind),
      hint_(std::move(hint)) {
  compose();
}

Error& Error::add_context(const std::string& where) {
  context_.push_back(where);
  compose();
  return *this;
}

Error& Error::set_hint(std::string hint) {
  hint_ = std::move(hint);
  compose();
  return *this;
}

void Error::compose() {
  full_.clear();
  for (auto it = context_.rbegin(); it != context_.rend(); ++it) full_ += *it + ": ";
  full_ += message_;
  if (!hint_.empty()) full_ += "\nhint: " + hint_;
}

}  // namespace tamp
