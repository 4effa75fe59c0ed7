// Checkpoints: a flat set of named tensors in one sealed HDF5 file, written so that a kill at
// any moment leaves either the previous file or the new one; a damaged file is a clear error.
//
//   io::Checkpoint c;  c.tensors["param/fc.weight"] = w;
//   io::save_checkpoint(c, "out/checkpoint.h5");
//   io::Checkpoint back = io::load_checkpoint("out/checkpoint.h5");
// Layout, seal and errors: docs/recipes.md#the-checkpoint-file
#pragma once

#include <tamp/autograd/tensor.h>

#include <map>
#include <string>

namespace tamp::io {

struct Checkpoint {
  std::map<std::string, Tensor> tensors;

  bool has(const std::string& name) const { return tensors.count(name) != 0; }
  // The tensor, or an error naming the missing entry.
  const Tensor& at(const std::string& name) const;
  // Entries whose names start with `prefix`, with the prefix removed.
  std::map<std::string, Tensor> group(const std::string& prefix) const;
  void set_group(const std::string& prefix, const std::map<std::string, Tensor>& entries);
  // Strings are stored as uint8 tensors.
  void set_string(const std::string& name, const std::string& value);
  std::string string(const std::string& name) const;
};

void save_checkpoint(const Checkpoint& checkpoint, const std::string& path);
Checkpoint load_checkpoint(const std::string& path);

}  // namespace tamp::io
