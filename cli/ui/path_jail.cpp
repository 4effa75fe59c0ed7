#include "ui/path_jail.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

namespace tamp::cli::ui {

namespace fs = std::filesystem;

OutsideFolder::OutsideFolder(const std::string& what)
    : Error(what, ErrorKind::kInvalidInput,
            "name a file inside the folders tamp ui was started with") {}

PathJail::PathJail(const std::string& root, std::string option) : option_(std::move(option)) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    throw Error(fmt::format("{} {}: not a folder", option_, root), ErrorKind::kIo,
                "create it or name another");
  }
  root_ = fs::canonical(root);
}

namespace {

// `inside` and `root` are canonical; compared component by component, so that /a/models2
// is not inside /a/models.
bool is_within(const fs::path& inside, const fs::path& root) {
  auto r = root.begin(), i = inside.begin();
  for (; r != root.end(); ++r, ++i) {
    if (i == inside.end() || *i != *r) return false;
  }
  return true;
}

// The canonical form of an absolute path, links followed; the components after the last
// existing one are taken as written. A dangling link on the way is refused (nullopt): its
// target does not exist yet, so weakly_canonical would keep its name, and a file created
// through it would land wherever it points.
std::optional<fs::path> canonical_or_none(const fs::path& absolute) {
  fs::path walked;
  std::error_code ec;
  for (const fs::path& c : absolute) {
    walked /= c;
    if (fs::is_symlink(walked, ec) && !fs::exists(walked, ec)) return std::nullopt;
  }
  fs::path resolved = fs::weakly_canonical(absolute, ec);
  if (ec) return std::nullopt;
  return resolved;
}

}  // namespace

fs::path PathJail::resolve(const std::string& relative) const {
  const fs::path p(relative);
  const bool dotdot = std::any_of(p.begin(), p.end(), [](const fs::path& c) { return c == ".."; });
  if (relative.empty() || p.is_absolute() || dotdot || relative.find('\0') != std::string::npos) {
    throw OutsideFolder(
        fmt::format("'{}' is not a name inside {} ({}): names are relative, without '..'", relative,
                    option_, root_.string()));
  }
  const std::optional<fs::path> resolved = canonical_or_none(root_ / p);
  if (!resolved || !is_within(*resolved, root_)) {
    throw OutsideFolder(
        fmt::format("'{}' leads outside {} ({}){}", relative, option_, root_.string(),
                    resolved ? " to '" + resolved->string() + "'" : " through a dangling link"));
  }
  return *resolved;
}

bool PathJail::contains(const fs::path& path) const {
  std::error_code ec;
  const fs::path absolute = fs::absolute(path, ec);
  if (ec) return false;
  const std::optional<fs::path> resolved = canonical_or_none(absolute);
  return resolved && is_within(*resolved, root_);
}

void PathJail::require(const fs::path& path, const std::string& what) const {
  if (!contains(path)) {
    throw OutsideFolder(
        fmt::format("{} '{}' is outside {} ({})", what, path.string(), option_, root_.string()));
  }
}

std::string PathJail::relative(const fs::path& inside) const {
  return inside.lexically_relative(root_).string();
}

}  // namespace tamp::cli::ui
