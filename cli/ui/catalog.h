// What the page offers to pick: the ONNX files under --models and the datasets under --data
// (Fashion-MNIST folders of IDX files, HDF5 files with datasets x and y), and how a chosen
// dataset becomes a recipe's data section.
//
//   Catalog c = list_catalog(models, data);     // c.models: {"cnn.onnx", "sub/mlp.onnx"}
//   RecipeDataChoice d = choose_data(data, "fashion-mnist", "");
#pragma once

#include "ui/path_jail.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace tamp::cli::ui {

struct DatasetEntry {
  std::string id;    // the path inside --data ("." for --data itself)
  std::string kind;  // "fashion-mnist" (a folder of IDX files) or "hdf5" (a .h5 file)
};

struct Catalog {
  std::vector<std::string> models;     // paths inside --models, sorted
  std::vector<DatasetEntry> datasets;  // sorted by id
};

// Walks both folders (at most kMaxDepth levels, kMaxEntries entries each; links to folders
// are not followed, files whose links lead outside are left out).
constexpr int kMaxDepth = 4;
constexpr int kMaxEntries = 5000;
Catalog list_catalog(const PathJail& models, const PathJail& data);
nlohmann::json catalog_json(const Catalog& c);

// A recipe's data source for dataset ids of the catalog: the training set and, for an HDF5
// training set, the evaluation set (another .h5; Fashion-MNIST brings its test split).
struct RecipeDataChoice {
  std::string dataset;       // "fashion-mnist" or "hdf5:/abs/train.h5"
  std::string dir;           // fashion-mnist: the folder of the IDX files
  std::string eval_dataset;  // "hdf5:/abs/test.h5" or ""
};
// Throws OutsideFolder for ids outside --data, kInvalidInput when an id is no dataset or an
// HDF5 training set comes without its evaluation set.
RecipeDataChoice choose_data(const PathJail& data, const std::string& id,
                             const std::string& eval_id);

}  // namespace tamp::cli::ui
