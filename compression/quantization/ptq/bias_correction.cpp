#include <tamp/autograd/op.h>
#include <tamp/compression/quantization/fake_quant_graph.h>
#include <tamp/compression/quantization/ptq/bias_correction.h>
#include <tamp/nn/graph_edit.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace tamp::compression {

namespace {

struct Layer {
  std::string node, output, bias;
  double beta = 1;  // Gemm's bias factor
};

bool is_fake_quantize(const nn::Node& n) {
  return n.op_type == "FakeQuantize" && canonical_domain(n.domain) == kTampDomain;
}

// The float model of a FakeQuantize graph: every FakeQuantize passes its input through.
// Biases are copies, so correcting the quantized model leaves the reference as it was.
nn::Graph float_graph(const nn::Graph& quantized) {
  nn::Graph g = quantized;
  for (auto& n : g.nodes) {
    if (!is_fake_quantize(n)) continue;
    n.op_type = "Identity";
    n.domain.clear();
    n.inputs.resize(1);
    n.attrs = nn::attrs_with({});
  }
  for (auto& [name, t] : g.initializers) t = t.clone();
  remove_unused(g);
  return g;
}

// The quantized Conv / ConvTranspose / Gemm layers in graph order; adds a zero bias where
// one is missing (channels from the layer's float output `channels`).
std::vector<Layer> find_layers(nn::Graph& g, const BiasCorrectionOptions& o,
                               const std::map<std::string, int64_t>& channels) {
  std::set<std::string> quantized_weights;
  for (const auto& s : find_fake_quantize(g))
    if (s.is_weight) quantized_weights.insert(s.output);
  nn::NameScope names(g);
  std::vector<Layer> out;
  for (auto& n : g.nodes) {
    if (n.op_type != "Conv" && n.op_type != "ConvTranspose" && n.op_type != "Gemm") continue;
    if (std::count(o.exclude.begin(), o.exclude.end(), n.name) ||
        std::count(o.exclude.begin(), o.exclude.end(), n.op_type))
      continue;
    if (n.inputs.size() < 2 || !quantized_weights.count(n.inputs[1])) continue;
    auto c = channels.find(n.outputs[0]);
    if (c == channels.end()) continue;
    const bool has_bias = n.inputs.size() > 2 && !n.inputs[2].empty();
    if (has_bias) {
      auto it = g.initializers.find(n.inputs[2]);
      // A shared or broadcast (Gemm [M, N]) bias cannot take a per-channel correction.
      if (it == g.initializers.end() || it->second.dtype() != DType::kFloat32 ||
          it->second.numel() != c->second || g.consumers(n.inputs[2]).size() != 1)
        continue;
    } else {
      if (n.inputs.size() < 3) n.inputs.resize(3);
      n.inputs[2] = names.fresh(n.name + "_bias");
      g.initializers[n.inputs[2]] = Tensor::zeros({c->second});
    }
    out.push_back(
        {n.name, n.outputs[0], n.inputs[2], n.op_type == "Gemm" ? n.attrs->f("beta", 1.0f) : 1.0});
  }
  return out;
}

// Adds each output's per-channel (axis 1) sums to `sums` and its count per channel to `counts`.
void accumulate(const Tensor& y, std::vector<double>& sums, double& count) {
  TAMP_CHECK(y.rank() >= 2 && y.dtype() == DType::kFloat32,
             "bias correction expects float (N, C, ...) outputs, got {}", describe(y));
  const int64_t n = y.dim(0), c = y.dim(1), inner = y.numel() / (n * c);
  if (sums.empty()) sums.assign(static_cast<size_t>(c), 0.0);
  TAMP_CHECK(static_cast<int64_t>(sums.size()) == c, "output channels changed from {} to {}",
             sums.size(), c);
  const float* p = y.data<float>();
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t ch = 0; ch < c; ++ch) {
      double s = 0;
      for (int64_t k = 0; k < inner; ++k) s += p[(b * c + ch) * inner + k];
      sums[static_cast<size_t>(ch)] += s;
    }
  }
  count += static_cast<double>(n * inner);
}

// Per-channel means over every rank.
std::vector<double> means(std::vector<double> sums, double count, nn::Collective& collective) {
  Tensor t = Tensor::zeros({static_cast<int64_t>(sums.size()) + 1}, DType::kFloat64);
  for (size_t i = 0; i < sums.size(); ++i) t.data<double>()[i] = sums[i];
  t.data<double>()[sums.size()] = count;
  collective.allreduce(t, nn::Reduce::kSum);
  const double total = t.data<double>()[sums.size()];
  TAMP_CHECK(total > 0, "bias correction saw no data");
  for (size_t i = 0; i < sums.size(); ++i) sums[i] = t.data<double>()[i] / total;
  return sums;
}

}  // namespace

std::vector<CorrectedLayer> correct_biases(nn::GraphModule& model,
                                           const std::vector<InputBatch>& batches,
                                           const BiasCorrectionOptions& options,
                                           nn::Collective* collective) {
  nn::Collective& c = collective ? *collective : nn::local_collective();
  TAMP_CHECK(c.size() > 1 || !batches.empty(), "bias correction needs calibration batches");
  NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  nn::Graph g = model.export_graph();
  TAMP_CHECK(!find_fake_quantize(g).empty(),
             "bias correction needs a quantized model (FakeQuantize nodes): run it "
             "after post-training quantization");

  // The float outputs of every candidate layer, in one pass.
  nn::GraphModule reference(float_graph(g));
  reference.eval();
  std::vector<std::string> wanted;
  for (const auto& n : g.nodes) {
    if (n.op_type == "Conv" || n.op_type == "ConvTranspose" || n.op_type == "Gemm")
      wanted.push_back(n.outputs[0]);
  }
  std::map<std::string, std::vector<double>> float_sums;
  std::map<std::string, double> float_counts;
  for (const auto& b : batches) {
    auto values = reference.forward(b, wanted);
    for (const auto& w : wanted) accumulate(values.at(w).value(), float_sums[w], float_counts[w]);
  }
  std::map<std::string, int64_t> channels;
  for (const auto& [w, s] : float_sums) channels[w] = static_cast<int64_t>(s.size());
  // Ranks without batches learn the channel counts from the others (same graph, same layers).
  for (const auto& w : wanted) {
    Tensor t =
        Tensor::scalar(static_cast<double>(channels.count(w) ? channels[w] : 0), DType::kFloat64);
    c.allreduce(t, nn::Reduce::kMax);
    channels[w] = static_cast<int64_t>(t.item());
    float_sums[w].resize(static_cast<size_t>(channels[w]), 0.0);
  }

  const std::vector<Layer> layers = find_layers(g, options, channels);
  model.set_graph(g);
  std::vector<CorrectedLayer> out;
  for (const auto& l : layers) {
    const std::vector<double> expected = means(float_sums.at(l.output), float_counts[l.output], c);
    // Only the part of the graph that computes this layer's output.
    nn::Graph upto = model.export_graph();
    upto.outputs = {nn::ValueInfo{l.output, DType::kFloat32, {}, false}};
    remove_unused(upto);
    nn::GraphModule prefix(std::move(upto));
    prefix.eval();
    std::vector<double> sums(expected.size(), 0.0);
    double count = 0;
    for (const auto& b : batches)
      accumulate(prefix.forward(b, {l.output}).at(l.output).value(), sums, count);
    const std::vector<double> actual = means(sums, count, c);
    Tensor bias = model.parameter(l.bias).value();
    double shift = 0;
    for (size_t ch = 0; ch < expected.size(); ++ch) {
      const double delta = expected[ch] - actual[ch];
      bias.data<float>()[ch] = static_cast<float>(bias.data<float>()[ch] + delta / l.beta);
      shift += std::fabs(delta);
    }
    out.push_back({l.node, expected.empty() ? 0.0 : shift / static_cast<double>(expected.size())});
  }
  model.train(was_training);
  return out;
}

BiasCorrection::BiasCorrection(BiasCorrectionOptions options) : options_(std::move(options)) {
  TAMP_CHECK(options_.batches >= 1, "bias correction needs at least one batch, got {}",
             options_.batches);
}

void BiasCorrection::attach(nn::GraphModule&, nn::Collective& collective) {
  collective_ = &collective;
}

void BiasCorrection::on_calibration_batch(const Batch& batch) {
  if (static_cast<int64_t>(batches_.size()) < options_.batches) batches_.push_back(batch.inputs);
}

void BiasCorrection::finalize(nn::GraphModule& model) {
  TAMP_CHECK(!find_fake_quantize(model.graph()).empty(),
             "bias_correction corrects a quantized model: put it after "
             "ptq in the same stage");
  report_ = correct_biases(model, batches_, options_, collective_);
  batches_.clear();
}

}  // namespace tamp::compression
