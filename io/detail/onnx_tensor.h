// Internal to io/: onnx::TensorProto <-> tamp::Tensor and the dtype mapping. Includes the
// protobuf headers, so only io/*.cpp may include it.
#pragma once

#include <tamp/autograd/tensor.h>

#include <onnx/onnx_pb.h>

#include <string>

namespace tamp::io::detail {

// More dims than this is a hostile or broken file, not a tensor.
constexpr int kMaxRank = 64;

// TensorProto.DataType <-> DType; unsupported types (string, complex, ...) throw kUnsupported.
DType dtype_from_onnx(int32_t data_type);
int32_t onnx_from_dtype(DType dtype);
std::string onnx_type_name(int32_t data_type);

// Validates dims (count, sign, int64 product) and returns the shape.
Shape checked_shape(const google::protobuf::RepeatedField<int64_t>& dims);

// Converts a TensorProto. Every size is checked against the data present before anything
// is allocated. External data is read relative to `model_dir` and must stay inside it; with
// an empty `model_dir` external data is refused.
Tensor tensor_from_proto(const onnx::TensorProto& proto, const std::string& model_dir = {});

// Fills `proto` (name untouched). raw_data when the tensor has at least `raw_threshold`
// bytes, the typed repeated field otherwise.
void tensor_to_proto(const Tensor& tensor, onnx::TensorProto& proto, size_t raw_threshold = 0);

}  // namespace tamp::io::detail
