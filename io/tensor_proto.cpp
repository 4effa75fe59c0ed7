#include <tamp/io/detail/files.h>
#include <tamp/io/detail/onnx_tensor.h>
#include <tamp/io/tensor_proto.h>

namespace tamp::io {

namespace {
// Protobuf cannot parse messages of 2 GiB or more.
constexpr uint64_t kMaxProtoBytes = (uint64_t{1} << 31) - 1;
}  // namespace

NamedTensor parse_tensor_proto(const std::string& bytes) {
  TAMP_CHECK(bytes.size() <= kMaxProtoBytes,
             "a TensorProto of {} bytes is over protobuf's 2 GiB limit", bytes.size());
  onnx::TensorProto proto;
  TAMP_CHECK(proto.ParseFromString(bytes),
             "not a valid TensorProto (truncated or corrupt protobuf)");
  NamedTensor out;
  out.name = proto.name();
  TAMP_WITH_CONTEXT(fmt::format("tensor '{}'", proto.name()),
                    out.tensor = detail::tensor_from_proto(proto));
  return out;
}

std::string serialize_tensor_proto(const Tensor& tensor, const std::string& name) {
  onnx::TensorProto proto;
  proto.set_name(name);
  detail::tensor_to_proto(tensor, proto);
  std::string bytes;
  TAMP_CHECK(proto.SerializeToString(&bytes), "cannot serialize tensor '{}' {}", name,
             describe(tensor));
  return bytes;
}

NamedTensor read_named_tensor_file(const std::string& path) {
  NamedTensor out;
  TAMP_WITH_CONTEXT(fmt::format("reading '{}'", path),
                    out = parse_tensor_proto(detail::read_file(path, kMaxProtoBytes)));
  return out;
}

Tensor read_tensor_file(const std::string& path) { return read_named_tensor_file(path).tensor; }

void write_tensor_file(const std::string& path, const Tensor& tensor, const std::string& name) {
  TAMP_WITH_CONTEXT(fmt::format("writing '{}'", path),
                    detail::write_file_atomically(path, serialize_tensor_proto(tensor, name)));
}

}  // namespace tamp::io
