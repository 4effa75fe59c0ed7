// A folder `tamp ui` was given (--models, --data, --runs) and the only place the page may
// name files in. Names from the page are relative to the folder; every name is resolved with
// symbolic links followed, and refused when the result is outside the folder.
//
//   PathJail models("/home/me/models", "--models");
//   fs::path p = models.resolve("cnn/cnn.onnx");      // canonical, inside the folder
//   models.resolve("../etc/passwd");                   // throws OutsideFolder
//   models.contains(recipe.model);                     // a path a recipe names: inside?
#pragma once

#include <tamp/autograd/error.h>

#include <filesystem>
#include <string>

namespace tamp::cli::ui {

// A path that names something outside the folders the server was given (HTTP 403).
class OutsideFolder : public Error {
 public:
  explicit OutsideFolder(const std::string& what);
};

class PathJail {
 public:
  // `root` must be an existing folder (kIo error otherwise); it is resolved once, so a later
  // change of a link above it does not move the jail. `option` names it in messages.
  PathJail(const std::string& root, std::string option);

  const std::filesystem::path& root() const { return root_; }
  const std::string& option() const { return option_; }

  // A name from the page, relative to the root: empty names, absolute paths and ".."
  // components are refused before anything is resolved; then the canonical path (links
  // followed; the last components need not exist) must lie inside the root.
  std::filesystem::path resolve(const std::string& relative) const;
  // Whether an absolute or relative (to the working folder) path resolves inside the root.
  bool contains(const std::filesystem::path& path) const;
  // Throws OutsideFolder naming `what` (e.g. "the recipe's model") unless contains(path).
  void require(const std::filesystem::path& path, const std::string& what) const;
  // The path of a file inside the root, relative to it ("cnn/cnn.onnx").
  std::string relative(const std::filesystem::path& inside) const;

 private:
  std::filesystem::path root_;
  std::string option_;
};

}  // namespace tamp::cli::ui
