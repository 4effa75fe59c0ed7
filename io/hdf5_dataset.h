// An in-memory dataset from an HDF5 file holding two datasets of the same length: inputs
// (default "x") and targets (default "y").
//
//   auto train = io::hdf5_dataset("train.h5");     // x: float32 or its integer type; y: int64 or
//   float32 nn::DataLoader loader(train, {.batch_size = 64});
#pragma once

#include <tamp/nn/dataset.h>

#include <memory>
#include <string>

namespace tamp::io {

// x (any numeric type, rank >= 1) is read as float32 when stored as floats and in its own
// integer type (width and sign) when stored as integers — token ids stay int64; values are
// unchanged (no scaling). y (rank >= 1) is read as int64 when stored as integers (class
// labels), as float32 otherwise. Errors
// (kIo / kInvalidInput) name the file and the dataset: a missing file or dataset, a
// non-numeric type, rank 0, lengths that differ.
std::shared_ptr<nn::TensorDataset> hdf5_dataset(const std::string& path,
                                                const std::string& x_name = "x",
                                                const std::string& y_name = "y");

}  // namespace tamp::io
