// IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed, and the
// Fashion-MNIST train/test sets built from them.
//
//   auto data = io::fashion_mnist("/usr/share/datasets/fashion-mnist");
//   data.train->x();   // float32 (60000, 1, 28, 28) in [0, 1]
//   data.train->y();   // int64 (60000), classes 0..9
//   Tensor raw = io::read_idx("t10k-labels-idx1-ubyte.gz");   // uint8 (10000)
#pragma once

#include <tamp/nn/dataset.h>

#include <string>
#include <vector>

namespace tamp::io {

// One IDX file: magic 0x00 0x00 <type> <rank>, rank big-endian uint32 dims, then the values
// big-endian. Types uint8, int8, int16, int32, float32, float64 give tensors of that dtype.
// Throws (kIo) naming the path for a missing or unreadable file, a bad magic, a data size
// that differs from the header's, or a corrupt gzip stream.
Tensor read_idx(const std::string& path);

// Reads train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte from `dir` (each as .gz, else uncompressed). Images become float32
// (N, 1, 28, 28) scaled to [0, 1], labels int64 in [0, 10). A missing file is an error that
// names the path and the Debian package that installs the data (dataset-fashion-mnist).
nn::TrainTest fashion_mnist(const std::string& dir);
// The four files fashion_mnist reads from `dir`, found without reading them; throws as
// fashion_mnist does when one is missing.
std::vector<std::string> fashion_mnist_files(const std::string& dir);

}  // namespace tamp::io
