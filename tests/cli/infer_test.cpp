// `tamp infer`: the written outputs equal tamp's own forward pass (in this process) and ONNX
// Runtime's, for every test model; inputs bind by name or in order; names become safe files.
#include "tamp_runner.h"

#include "support/expect.h"
#include "support/ort_runner.h"
#include "support/random_input.h"
#include "support/test_data.h"

#include <tamp/autograd/threads.h>
#include <tamp/io/onnx_import.h>
#include <tamp/io/tensor_proto.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>

namespace tamp::test {
namespace {

class InferModels : public ::testing::TestWithParam<std::string> {};

TEST_P(InferModels, OutputsEqualTampsForwardAndOnnxRuntime) {
  const std::string path = model_file(GetParam());
  set_num_threads(1);
  nn::GraphModule model = io::load_onnx(path);
  model.eval();
  const nn::ValueInfo& in = model.graph().inputs.at(0);
  const Tensor x = random_input(in, 3, 11);
  Tensor mine;
  {
    NoGradGuard no_grad;
    mine = model.forward({{in.name, Variable(x)}}).at("logits").value();
  }

  TempDir dir;
  io::write_tensor_file(dir.file("x.pb"), x, in.name);
  const CliResult r = run_tamp({"infer", path, "--input", "input=" + dir.file("x.pb"),
                                "--output-dir", dir.file("out"), "--threads", "1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("logits float32[3, 10] -> " + dir.file("out") + "/logits.pb"),
            std::string::npos)
      << r.out;
  const io::NamedTensor written = io::read_named_tensor_file(dir.file("out/logits.pb"));
  EXPECT_EQ(written.name, "logits");
  expect_close(written.tensor, mine, {.rtol_of_max = 1e-6});  // same code, same thread count
  expect_close(written.tensor, run_ort(path, {{in.name, x}}).at("logits"), {.rtol_of_max = 1e-4});
}

INSTANTIATE_TEST_SUITE_P(TestModels, InferModels,
                         ::testing::Values("mlp", "cnn", "cnn_bn", "cnn_wide", "transformer"));

TEST(Infer, BareFilesBindInOrderAndIntermediateValuesGetSafeFileNames) {
  const std::string path = model_file("mlp");
  nn::GraphModule model = io::load_onnx(path);
  model.eval();
  const Tensor x = random_input(model.graph().inputs.at(0), 2, 5);
  // The first Gemm's output: a name with '/' that must not become a path.
  std::string hidden;
  for (const auto& n : model.graph().nodes) {
    if (n.op_type == "Gemm") {
      hidden = n.outputs.at(0);
      break;
    }
  }
  ASSERT_NE(hidden.find('/'), std::string::npos) << hidden;
  Tensor want_hidden, want_logits;
  {
    NoGradGuard no_grad;
    auto v = model.forward({{"input", Variable(x)}}, {hidden, "logits"});
    want_hidden = v.at(hidden).value();
    want_logits = v.at("logits").value();
  }

  TempDir dir;
  io::write_tensor_file(dir.file("a=b.pb"), x);  // '=' in a path that names no input: a file
  const CliResult r = run_tamp({"infer", path, "--input", dir.file("a=b.pb"), "--output-dir",
                                dir.file("o"), "--output", hidden, "--output", "logits", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.at("outputs").size(), 2u);
  std::string safe = hidden;
  for (char& c : safe)
    if (c == '/') c = '_';
  EXPECT_EQ(j.at("outputs")[0].at("name"), hidden);
  EXPECT_EQ(j.at("outputs")[0].at("file"), dir.file("o") + "/" + safe + ".pb");
  EXPECT_EQ(j.at("outputs")[1].at("shape"), (Shape{2, 10}));
  const io::NamedTensor h = io::read_named_tensor_file(dir.file("o") + "/" + safe + ".pb");
  EXPECT_EQ(h.name, hidden);
  expect_close(h.tensor, want_hidden, {.rtol_of_max = 1e-5});
  expect_close(io::read_tensor_file(dir.file("o/logits.pb")), want_logits, {.rtol_of_max = 1e-5});
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.file("o")), {}), 2);
}

TEST(Infer, UsageAndInputErrors) {
  const std::string path = model_file("cnn");
  TempDir dir;
  io::write_tensor_file(dir.file("x.pb"), Tensor::zeros({1, 1, 28, 28}));
  io::write_tensor_file(dir.file("bad_shape.pb"), Tensor::zeros({1, 784}));
  {
    std::ofstream garbage(dir.file("garbage.pb"));
    garbage << "\x0a\xff\xff\xff\xff\xff this is not a TensorProto";
  }
  const std::string out = dir.file("out");
  // No input at all, an unknown NAME=, the same input twice, one file too many: usage (2).
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"infer", path, "--output-dir", out},
           {"infer", path, "--input", "nosuch=" + dir.file("x.pb"), "--output-dir", out},
           {"infer", path, "--input", "input=" + dir.file("x.pb"), "--input",
            "input=" + dir.file("x.pb"), "--output-dir", out},
           {"infer", path, "--input", dir.file("x.pb"), "--input", dir.file("x.pb"), "--output-dir",
            out},
           {"infer", path, "--input", dir.file("x.pb")},
       }) {
    const CliResult r = run_tamp(args);
    EXPECT_EQ(r.code, 2) << args[3] << ": " << r.err;
    EXPECT_NE(r.err, "");
    EXPECT_EQ(r.out, "");
  }
  // Missing, garbage or wrongly shaped tensor files: bad input (3), the file named.
  for (const char* file : {"missing.pb", "garbage.pb", "bad_shape.pb"}) {
    const CliResult r = run_tamp({"infer", path, "--input", dir.file(file), "--output-dir", out});
    EXPECT_EQ(r.code, 3) << file << ": " << r.err;
    EXPECT_NE(r.err.find("error:"), std::string::npos) << r.err;
  }
  EXPECT_FALSE(std::filesystem::exists(out)) << "nothing is written when the run fails";
}

}  // namespace
}  // namespace tamp::test
