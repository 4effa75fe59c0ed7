// Checkpoints: a flat set of named tensors in one HDF5 file, written so that a kill at any
// moment leaves either the previous file or the new one, never a broken one.
//
//   io::Checkpoint c;
//   c.tensors["param/fc.weight"] = w;
//   c.tensors["position/step"] = Tensor::scalar(120, DType::kInt64);
//   io::save_checkpoint(c, "out/checkpoint.h5");
//   io::Checkpoint back = io::load_checkpoint("out/checkpoint.h5");
//
// Layout: the root group has the attributes format = "tamp-checkpoint" and version = 1; each
// tensor is a one-dimensional uint8 dataset "/t<i>" holding its bytes (little-endian, row
// major) with the attributes name (string), dtype ("float32", ...) and shape (int64: the rank,
// then the dims). Names are free text ('/' allowed), so they live in attributes.
// The file is sealed: HDF5's 512-byte user block at its start (bytes libhdf5 skips) holds
// "tamp-checkpoint\n", a seal version, the file's length and a CRC-32 of everything after the
// block. Loading checks the seal before libhdf5 reads the file, so a truncated, extended or
// damaged file (one flipped bit, in the data too), or an HDF5 file tamp did not write, is a
// clear error instead of wrong weights or a libhdf5 parse of damaged metadata. (A file crafted
// with a valid seal still reaches libhdf5: see the README's known limits.)
// Writing: a temporary file in the same folder ("<path>.tmp-<pid>"), sealed, fsynced, renamed
// over `path`, then the folder fsynced.
// Reading: every problem (no or a wrong seal, not a tamp checkpoint, a dtype or shape that
// does not match the byte count, sizes larger than the file) is a tamp::Error naming the file
// and the entry — kIo for a missing or unreadable file, kInvalidInput for a malformed one.
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
