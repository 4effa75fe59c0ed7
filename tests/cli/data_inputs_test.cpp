// What a model is fed, as a user runs the commands: --normalize becomes part of the written
// model (the file takes raw pixels in ONNX Runtime and scores what tamp reported), and integer
// HDF5 inputs stay integers (token ids train an int64-input model).
#include "tamp_runner.h"

#include "support/ort_runner.h"
#include "support/test_data.h"

#include <tamp/io/idx.h>
#include <tamp/io/onnx_export.h>
#include <tamp/io/onnx_import.h>
#include <tamp/nn/input_normalization.h>

#include <H5Cpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>

namespace tamp::test {
namespace {

// Top-1 accuracy of `model` in ONNX Runtime on the first n Fashion-MNIST test images, as loaded
// (raw values in [0, 1]).
double ort_accuracy(const std::string& model, int64_t n) {
  static const nn::TrainTest data = io::fashion_mnist("/usr/share/datasets/fashion-mnist");
  const auto test = data.test->slice(0, n);
  const Tensor logits = run_ort(model, {{"input", test->x()}}).at("logits");
  int64_t hits = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    for (int64_t c = 1; c < logits.dim(1); ++c)
      best = logits.at(i * 10 + c) > logits.at(i * 10 + best) ? c : best;
    hits += best == static_cast<int64_t>(test->y().at(i));
  }
  return static_cast<double>(hits) / static_cast<double>(n);
}

// `tamp train --normalize train` used to export a model that expected normalized inputs without
// saying so: 78 % in ONNX Runtime on raw pixels for a reported 85 %.
TEST(Normalize, TheWrittenModelTakesRawPixelsAndScoresWhatTampReported) {
  TempDir dir;
  const std::string out = dir.file("n.onnx");
  const CliResult r = run_tamp({"train", model_file("cnn"), "--dataset", "fashion-mnist", "--limit",
                                "1000", "--steps", "30", "--optimizer", "adam", "--normalize",
                                "train", "--out", out, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const double reported = j.at("test").at("top1").get<double>();
  ASSERT_EQ(j.at("test").at("examples"), 1000);
  EXPECT_NEAR(ort_accuracy(out, 1000), reported, 0.0015);  // an argmax tie may differ

  // The file carries the statistics, as float32, and keeps them constant.
  const auto n = nn::input_normalization(io::load_onnx_graph(out), "input");
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(static_cast<float>(n->mean),
            static_cast<float>(j.at("normalize").at("mean").get<double>()));
  EXPECT_EQ(static_cast<float>(n->std),
            static_cast<float>(j.at("normalize").at("std").get<double>()));

  // Evaluated raw, or with the same --normalize again (already in the model): the same score.
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{}, {"--normalize", "train"}}) {
    std::vector<std::string> args{"eval",    out,    "--dataset", "fashion-mnist:test",
                                  "--limit", "1000", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    const CliResult e = run_tamp(args);
    ASSERT_EQ(e.code, 0) << e.err;
    EXPECT_NEAR(nlohmann::json::parse(e.out).at("top1").get<double>(), reported, 0.0015);
  }
  const CliResult other =
      run_tamp({"eval", out, "--dataset", "fashion-mnist", "--normalize", "0.5,0.5"});
  EXPECT_EQ(other.code, 3);
  EXPECT_NE(other.err.find("already normalized"), std::string::npos) << other.err;
}

// input_ids [batch, 8] int64 -> Gather(embedding [100, 16]) -> ReduceMean over the sequence ->
// Gemm -> logits [batch, 2].
std::string token_model(const TempDir& dir) {
  nn::Graph g;
  g.inputs.push_back({"input_ids", DType::kInt64, {nn::Dim::symbolic("batch"), nn::Dim::of(8)}});
  g.outputs.push_back({"logits", DType::kFloat32, {nn::Dim::symbolic("batch"), nn::Dim::of(2)}});
  Tensor emb = Tensor::empty({100, 16});
  for (int64_t i = 0; i < emb.numel(); ++i)
    emb.data<float>()[i] = static_cast<float>(std::sin(0.37 * i)) * 0.1f;
  Tensor w = Tensor::empty({2, 16});
  for (int64_t i = 0; i < w.numel(); ++i)
    w.data<float>()[i] = static_cast<float>(std::cos(0.71 * i)) * 0.1f;
  g.initializers = {{"embedding", emb}, {"w", w}, {"b", Tensor::zeros({2})}};
  Attributes mean;
  mean.set("axes", std::vector<int64_t>{1});
  mean.set("keepdims", int64_t{0});
  Attributes gemm;
  gemm.set("transB", int64_t{1});
  g.nodes.push_back(
      {"gather", "Gather", "", {"embedding", "input_ids"}, {"tokens"}, nn::attrs_with({})});
  g.nodes.push_back({"mean", "ReduceMean", "", {"tokens"}, {"pooled"}, nn::attrs_with(mean)});
  g.nodes.push_back({"fc", "Gemm", "", {"pooled", "w", "b"}, {"logits"}, nn::attrs_with(gemm)});
  const std::string path = dir.file("tokens.onnx");
  io::save_onnx_graph(g, path);
  return path;
}

// The HDF5 reader turned integer x into float32, so a model with int64 token ids could not be
// fine-tuned on the user's data ("input 'input_ids' must be int64, got float32").
TEST(Hdf5Inputs, TokenIdsStayInt64AndTrainATokenModel) {
  TempDir dir;
  const std::string model = token_model(dir), data = dir.file("ids.h5");
  {
    std::vector<int64_t> ids(64 * 8), labels(64);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>((i * 37) % 100);
    for (size_t i = 0; i < labels.size(); ++i) labels[i] = ids[i * 8] % 2;
    H5::H5File f(data, H5F_ACC_TRUNC);
    const hsize_t xdims[2] = {64, 8}, ydims[1] = {64};
    H5::DataSpace xs(2, xdims), ys(1, ydims);
    f.createDataSet("x", H5::PredType::NATIVE_INT64, xs)
        .write(ids.data(), H5::PredType::NATIVE_INT64);
    f.createDataSet("y", H5::PredType::NATIVE_INT64, ys)
        .write(labels.data(), H5::PredType::NATIVE_INT64);
  }
  const CliResult r = run_tamp({"train", model, "--dataset", "hdf5:" + data, "--epochs", "2",
                                "--batch", "16", "--out", dir.file("trained.onnx"), "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out).at("steps"), 8);
  EXPECT_NE(
      io::load_onnx_graph(dir.file("trained.onnx")).initializers.at("embedding").data<float>()[0],
      io::load_onnx_graph(model).initializers.at("embedding").data<float>()[0]);

  // Token ids cannot be normalized: refused, naming the input.
  const CliResult norm = run_tamp({"train", model, "--dataset", "hdf5:" + data, "--normalize",
                                   "train", "--out", dir.file("n.onnx")});
  EXPECT_EQ(norm.code, 3);
  EXPECT_NE(norm.err.find("cannot normalize input 'input_ids': it is int64"), std::string::npos)
      << norm.err;
}

}  // namespace
}  // namespace tamp::test
