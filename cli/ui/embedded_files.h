// Files compiled into the `tamp` binary by cmake/embed_files.cmake: the page of `tamp ui`
// (cli/ui/assets).
//
//   for (const EmbeddedFile& f : page_assets()) if (f.path == "index.html") serve(f.bytes);
#pragma once

#include <string_view>
#include <vector>

namespace tamp::cli::ui {

struct EmbeddedFile {
  std::string_view path;  // relative to the embedded folder, e.g. "app.js"
  std::string_view bytes;
};

const std::vector<EmbeddedFile>& page_assets();

// The file of `files` at `path`, or nullptr.
const EmbeddedFile* find_embedded(const std::vector<EmbeddedFile>& files, std::string_view path);

}  // namespace tamp::cli::ui
