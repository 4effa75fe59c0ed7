// The exit-code policy of `tamp`: 0 success, 2 bad usage, 3 bad input file, messages on
// stderr; --version and --help.
#include <tamp/autograd/simd_target.h>

#include "tamp_runner.h"

#include "support/ort_runner.h"
#include "support/test_data.h"

#include <tamp/io/onnx_export.h>
#include <tamp/io/tensor_proto.h>

#include <gtest/gtest.h>

#include <fstream>

namespace tamp::test {
namespace {

TEST(ExitCodes, VersionAndHelp) {
  const CliResult v = run_tamp({"--version"});
  EXPECT_EQ(v.code, 0);
  EXPECT_EQ(v.out.rfind("tamp " TAMP_PROJECT_VERSION " (kernels: " + simd_target(), 0), 0u)
      << v.out;

  // A lower instruction set on request; one this CPU lacks is named in the message.
  const std::vector<std::string> targets = simd_targets_available();
  const CliResult low = run_tamp({"--version"}, {{"TAMP_SIMD", targets.back()}});
  EXPECT_EQ(low.out.rfind("tamp " TAMP_PROJECT_VERSION " (kernels: " + targets.back(), 0), 0u)
      << low.out;
  const CliResult bad = run_tamp({"--version"}, {{"TAMP_SIMD", "avx9"}});
  EXPECT_NE(bad.out.find("unknown instruction set 'avx9'"), std::string::npos) << bad.out;

  const CliResult h = run_tamp({"--help"});
  EXPECT_EQ(h.code, 0);
  for (const char* cmd : {"inspect", "infer", "eval", "train"}) {
    EXPECT_NE(h.out.find(cmd), std::string::npos) << cmd << " missing from:\n" << h.out;
  }
  const CliResult sub = run_tamp({"train", "--help"});
  EXPECT_EQ(sub.code, 0);
  EXPECT_NE(sub.out.find("--optimizer"), std::string::npos) << sub.out;
}

TEST(ExitCodes, BadUsageIsTwo) {
  const std::string cnn = model_file("cnn");
  for (const auto& args : std::vector<std::vector<std::string>>{
           {},              // no subcommand
           {"frobnicate"},  // unknown subcommand
           {"inspect"},     // no model
           {"inspect", cnn, "--no-such-flag"},
           {"inspect", cnn, cnn},  // one argument too many
           {"eval", cnn, "--dataset", "fashion-mnist", "--batch", "zero"},
           {"infer", cnn, "--threads", "-2", "--output-dir", "x"},
       }) {
    const CliResult r = run_tamp(args);
    EXPECT_EQ(r.code, 2) << (args.empty() ? "(none)" : args.back()) << ": " << r.err;
    EXPECT_FALSE(r.err.empty());
  }
}

TEST(ExitCodes, BadInputFileIsThree) {
  TempDir dir;
  {
    std::ofstream garbage(dir.file("garbage.onnx"));
    garbage << "definitely not a protobuf \xff\xff\xff\xff";
  }
  {
    std::ofstream truncated(dir.file("truncated.onnx"), std::ios::binary);
    std::ifstream whole(model_file("cnn"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(whole)), {});
    truncated << bytes.substr(0, bytes.size() / 2);
  }
  nn::Graph g;
  g.inputs.push_back({"x", DType::kFloat32, {nn::Dim::symbolic("n"), nn::Dim::of(5)}});
  g.nodes.push_back({"hm", "Hardmax", "", {"x"}, {"y"}});
  g.outputs.push_back({"y", DType::kFloat32, {nn::Dim::symbolic("n"), nn::Dim::of(5)}});
  io::save_onnx_graph(g, dir.file("unsupported.onnx"));

  for (const char* file : {"missing.onnx", "garbage.onnx", "truncated.onnx"}) {
    const CliResult r = run_tamp({"inspect", dir.file(file)});
    EXPECT_EQ(r.code, 3) << file << ": " << r.err;
    EXPECT_NE(r.err.find(dir.file(file)), std::string::npos)
        << "the message names the file: " << r.err;
    EXPECT_EQ(r.out, "");
  }
  // The op tamp lacks: inspect reports it (0); running the model is refused (3), naming it.
  EXPECT_EQ(run_tamp({"inspect", dir.file("unsupported.onnx")}).code, 0);
  io::write_tensor_file(dir.file("x.pb"), Tensor::zeros({1, 5}));
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"infer", dir.file("unsupported.onnx"), "--input", dir.file("x.pb"), "--output-dir",
            dir.file("o")},
           {"eval", dir.file("unsupported.onnx"), "--dataset", "fashion-mnist", "--limit", "10"},
           {"train", dir.file("unsupported.onnx"), "--dataset", "fashion-mnist", "--out",
            dir.file("t.onnx")},
       }) {
    const CliResult r = run_tamp(args);
    EXPECT_EQ(r.code, 3) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find("Hardmax"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace tamp::test
