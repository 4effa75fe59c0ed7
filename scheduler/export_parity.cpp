#include <tamp/compression/quantization/lowering/fused_simulation.h>
#include <tamp/compression/quantization/lowering/lower.h>
#include <tamp/compression/quantization/quant_plan.h>
#include <tamp/nn/data_loader.h>
#include <tamp/nn/metrics.h>
#include <tamp/scheduler/evaluate.h>
#include <tamp/scheduler/export_parity.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace tamp {

namespace {

// The scale of the DequantizeLinear writing `out` (one output quantization step), or NaN.
double output_step(const nn::Graph& g, const std::string& out) {
  const int p = g.producer(out);
  if (p < 0) return std::nan("");
  const nn::Node& n = g.nodes[static_cast<size_t>(p)];
  if (n.op_type != "DequantizeLinear" || n.inputs.size() < 2) return std::nan("");
  auto it = g.initializers.find(n.inputs[1]);
  return it == g.initializers.end() || it->second.numel() != 1 ? std::nan("") : it->second.at(0);
}

int64_t argmax_row(const float* row, int64_t n) { return std::max_element(row, row + n) - row; }

}  // namespace

nn::Graph fused_like_onnx_runtime(const nn::Graph& g, bool* fused) {
  bool qdq = false;
  for (const auto& n : g.nodes) {
    if (!compression::is_quantizable_compute(n.op_type) || n.inputs.size() < 2) continue;
    const int p = g.producer(n.inputs[1]);
    qdq = qdq || (p >= 0 && g.nodes[static_cast<size_t>(p)].op_type == "DequantizeLinear");
  }
  nn::Graph q = g;
  bool compute_fused = false;
  if (qdq) {
    try {
      q = compression::qdq_to_qoperator(g);
      compute_fused = true;
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kUnsupported) throw;
    }
  }
  int adds = 0;
  q = compression::fuse_qdq_adds_like_onnx_runtime(q, &adds);
  if (fused) *fused = compute_fused || adds > 0;
  if (compute_fused || adds > 0) {  // a quantized model: its float Softmax as ORT's, as simulated
    std::set<std::string> dequantized;
    for (const auto& n : q.nodes)
      if (n.op_type == "DequantizeLinear" && !n.outputs.empty()) dequantized.insert(n.outputs[0]);
    compression::softmax_like_onnx_runtime(q, dequantized);
  }
  return q;
}

ParityResult check_export_parity(nn::GraphModule& simulated, const nn::Graph& exported,
                                 const nn::Dataset& data, const ParityOptions& options) {
  ParityResult r;
  r.arithmetic = options.arithmetic;
  r.min_agreement = options.min_agreement;
  const std::string out = output_name(exported, options.output);
  r.output_step = output_step(exported, out);
  nn::GraphModule integer(fused_like_onnx_runtime(exported, &r.fused));
  integer.set_integer_arithmetic(options.arithmetic);
  integer.eval();
  const bool was_training = simulated.is_training();
  simulated.eval();
  const std::unique_ptr<nn::GraphModule> simulation = onnx_runtime_simulation(simulated);
  nn::GraphModule& sim = simulation ? *simulation : simulated;
  const nn::ValueInfo& in = input_info(simulated.graph(), options.input);
  const std::string sim_out = output_name(simulated.graph(), options.output);
  nn::Collective& coll = options.collective ? *options.collective : nn::local_collective();
  const EvaluationShard shard = evaluation_shard(data, options.batch_size, coll);
  const int64_t real = shard.real_examples;
  const double tie = std::isnan(r.output_step) ? 0.0 : r.output_step * 1.0001;
  int64_t same = 0, hits_sim = 0, hits_exp = 0, seen = 0, batches = 0;
  double max_diff = 0;
  {
    NoGradGuard no_grad;
    for (const nn::Batch& b : *shard.loader) {
      if (options.max_batches >= 0 && batches++ >= options.max_batches) break;
      const Tensor x = fit_input(in, b.x);
      const int64_t n = std::min<int64_t>(x.dim(0), real - seen);
      if (n <= 0) break;
      const Tensor ys = sim.forward({{in.name, Variable(x)}}, {sim_out}).at(sim_out).value();
      const Tensor ye = integer.forward({{in.name, Variable(x)}}, {out}).at(out).value();
      TAMP_CHECK(ys.rank() == 2 && ye.shape() == ys.shape() && ys.dtype() == DType::kFloat32 &&
                     ye.dtype() == DType::kFloat32,
                 "parity: the simulated output {} and the exported output {} must be float logits "
                 "(N, classes) "
                 "of one shape",
                 describe(ys), describe(ye));
      const int64_t classes = ys.dim(1);
      for (int64_t i = 0; i < n; ++i) {
        const float* rs = ys.data<float>() + i * classes;
        const float* re = ye.data<float>() + i * classes;
        const int64_t as = argmax_row(rs, classes), ae = argmax_row(re, classes);
        // Quantized logits tie often (an untrained model's most of all); the exported model
        // agrees when the class it picks was within one output step of the simulated best.
        same += as == ae || rs[ae] >= rs[as] - tie;
        const auto label = static_cast<int64_t>(b.y.at(i));
        hits_sim += as == label;
        hits_exp += ae == label;
        for (int64_t c = 0; c < classes; ++c)
          max_diff = std::max(max_diff, std::abs(double{rs[c]} - re[c]));
      }
      seen += n;
    }
  }
  Tensor counts =
      Tensor::from_vector<double>({4}, {static_cast<double>(same), static_cast<double>(hits_sim),
                                        static_cast<double>(hits_exp), static_cast<double>(seen)});
  coll.allreduce(counts, nn::Reduce::kSum);
  Tensor diff = Tensor::scalar(max_diff, DType::kFloat64);
  coll.allreduce(diff, nn::Reduce::kMax);
  simulated.train(was_training);
  const double* c = counts.data<double>();
  r.examples = static_cast<int64_t>(c[3]);
  if (r.examples > 0) {
    r.agreement = c[0] / c[3];
    r.simulated_top1 = c[1] / c[3];
    r.exported_top1 = c[2] / c[3];
  }
  r.max_abs_diff = diff.item();
  r.max_step_diff = r.max_abs_diff / r.output_step;
  return r;
}

std::string parity_text(const ParityResult& r) {
  const std::string diff = std::isnan(r.max_step_diff)
                               ? fmt::format("max |diff| {:.3g}", r.max_abs_diff)
                               : fmt::format("max |diff| {:.3g} output steps", r.max_step_diff);
  return fmt::format("argmax agreement {:.2f} % ({} examples), {}, integer arithmetic {}",
                     100 * r.agreement, r.examples, diff, integer_arithmetic_name(r.arithmetic));
}

}  // namespace tamp
