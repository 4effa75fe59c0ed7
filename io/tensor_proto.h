// TensorProto files — the format of ONNX's test data (input_0.pb, output_0.pb) and of
// `tamp infer`. Every tamp dtype reads and writes; string and complex tensors are refused
// (kUnsupported).
//
//   Tensor x = io::read_tensor_file("test_data_set_0/input_0.pb");
//   io::write_tensor_file("y.pb", y, "output");        // temporary file, then rename
//   io::NamedTensor nt = io::read_named_tensor_file("y.pb");   // nt.name == "output"
#pragma once

#include <tamp/autograd/tensor.h>

#include <string>

namespace tamp::io {

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

// Throws kIo when the file cannot be read, kInvalidInput (naming the file) when it is not a
// consistent TensorProto: bad protobuf, negative or overflowing dims, data shorter or longer
// than the shape.
Tensor read_tensor_file(const std::string& path);
NamedTensor read_named_tensor_file(const std::string& path);
// Data goes in raw_data, the way onnx.numpy_helper writes it.
void write_tensor_file(const std::string& path, const Tensor& tensor, const std::string& name = "");

// The same on serialized bytes.
NamedTensor parse_tensor_proto(const std::string& bytes);
std::string serialize_tensor_proto(const Tensor& tensor, const std::string& name = "");

}  // namespace tamp::io
