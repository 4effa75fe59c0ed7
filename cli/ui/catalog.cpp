#include "ui/catalog.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace tamp::cli::ui {

namespace fs = std::filesystem;

namespace {

bool has_idx(const fs::path& dir, const std::string& name) {
  std::error_code ec;
  return fs::is_regular_file(dir / name, ec) || fs::is_regular_file(dir / (name + ".gz"), ec);
}

// The four files io::fashion_mnist reads.
bool is_fashion_mnist_folder(const fs::path& dir) {
  return has_idx(dir, "train-images-idx3-ubyte") && has_idx(dir, "train-labels-idx1-ubyte") &&
         has_idx(dir, "t10k-images-idx3-ubyte") && has_idx(dir, "t10k-labels-idx1-ubyte");
}

bool has_extension(const fs::path& p, const std::string& ext) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return e == ext;
}

// Calls `visit(path)` for every entry under the jail's root within the limits, the root first.
template <typename Visit> void walk(const PathJail& jail, Visit visit) {
  visit(jail.root());
  std::error_code ec;
  fs::recursive_directory_iterator it(jail.root(), fs::directory_options::skip_permission_denied,
                                      ec),
      end;
  for (int n = 0; !ec && it != end && n < kMaxEntries; it.increment(ec), ++n) {
    if (it.depth() >= kMaxDepth) it.disable_recursion_pending();
    if (!jail.contains(it->path())) continue;
    visit(it->path());
  }
}

}  // namespace

Catalog list_catalog(const PathJail& models, const PathJail& data) {
  Catalog c;
  walk(models, [&](const fs::path& p) {
    std::error_code ec;
    if (has_extension(p, ".onnx") && fs::is_regular_file(p, ec))
      c.models.push_back(models.relative(p));
  });
  walk(data, [&](const fs::path& p) {
    std::error_code ec;
    if (fs::is_directory(p, ec) && is_fashion_mnist_folder(p)) {
      c.datasets.push_back({p == data.root() ? "." : data.relative(p), "fashion-mnist"});
    } else if ((has_extension(p, ".h5") || has_extension(p, ".hdf5")) &&
               fs::is_regular_file(p, ec)) {
      c.datasets.push_back({data.relative(p), "hdf5"});
    }
  });
  std::sort(c.models.begin(), c.models.end());
  std::sort(c.datasets.begin(), c.datasets.end(),
            [](const auto& a, const auto& b) { return a.id < b.id; });
  return c;
}

nlohmann::json catalog_json(const Catalog& c) {
  nlohmann::json datasets = nlohmann::json::array();
  for (const auto& d : c.datasets) datasets.push_back({{"id", d.id}, {"kind", d.kind}});
  return {{"models", c.models}, {"datasets", datasets}};
}

RecipeDataChoice choose_data(const PathJail& data, const std::string& id,
                             const std::string& eval_id) {
  const fs::path train = id == "." ? data.root() : data.resolve(id);
  std::error_code ec;
  RecipeDataChoice out;
  if (fs::is_directory(train, ec) && is_fashion_mnist_folder(train)) {
    out.dataset = "fashion-mnist";
    out.dir = train.string();
    return out;
  }
  if (!fs::is_regular_file(train, ec) ||
      !(has_extension(train, ".h5") || has_extension(train, ".hdf5"))) {
    throw Error(fmt::format("'{}' in {} is neither a Fashion-MNIST folder nor an .h5 file", id,
                            data.option()),
                ErrorKind::kInvalidInput);
  }
  out.dataset = "hdf5:" + train.string();
  if (eval_id.empty()) {
    throw Error(
        fmt::format("'{}' is an HDF5 training set: pick an evaluation set (another .h5) too", id),
        ErrorKind::kInvalidInput);
  }
  const fs::path eval = data.resolve(eval_id);
  if (!fs::is_regular_file(eval, ec)) {
    throw Error(fmt::format("evaluation set '{}' is not a file in {}", eval_id, data.option()),
                ErrorKind::kInvalidInput);
  }
  out.eval_dataset = "hdf5:" + eval.string();
  return out;
}

}  // namespace tamp::cli::ui
