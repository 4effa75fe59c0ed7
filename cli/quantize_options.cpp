// The options of `tamp quantize` (cli/quantize.cpp runs the command).
#include "quantize.h"

#include <string>
#include <vector>

namespace tamp::cli {

namespace {

const std::vector<std::string> kMethods = {"static", "dynamic", "weight-only"};
const std::vector<std::string> kCalibrations = {"minmax", "moving-average", "percentile", "entropy",
                                                "mse"};

// --method static: calibration, format, the search and the recovery steps.
void add_static_options(CLI::App& sub, QuantizeArgs& a) {
  sub.add_option("--calibration", a.calibration,
                 "static: how activation ranges are chosen: minmax (the default), "
                 "moving-average, percentile, entropy (KL) or mse")
      ->check(CLI::IsMember(kCalibrations));
  sub.add_option("--weight-calibration", a.weight_calibration,
                 "static: how weight ranges are chosen, per output channel: minmax (the default), "
                 "percentile, "
                 "entropy (KL) or mse (a histogram of each channel's weights)")
      ->check(CLI::IsMember({"minmax", "percentile", "entropy", "mse"}));
  sub.add_option("--percentile", a.percentile,
                 "static --calibration percentile: the percentile kept, in (50, 100]")
      ->check(CLI::Range(50.0, 100.0))
      ->capture_default_str();
  sub.add_option("--format", a.format,
                 "static: qdq (QuantizeLinear/DequantizeLinear around float ops, the default) "
                 "or qoperator (QLinearConv, QLinearMatMul, MatMulInteger)")
      ->check(CLI::IsMember({"qdq", "qoperator"}));
  sub.add_option("--accuracy-criterion", a.accuracy_criterion,
                 "static: search op fallbacks and settings (as tamp tune) until top-1 on "
                 "--eval-data stays within "
                 "relative:FRACTION or absolute:POINTS of the float model")
      ->type_name("KIND:VALUE");
  sub.add_option("--strategy", a.strategy,
                 "with --accuracy-criterion: basic (default), mse, exhaustive, random, "
                 "bayesian or tpe")
      ->check(CLI::IsMember({"basic", "mse", "exhaustive", "random", "bayesian", "tpe"}));
  sub.add_flag("--power-of-two", a.power_of_two,
               "static: scales rounded up to powers of two (Vitis AI style)");
  sub.add_flag("--equalize", a.equalize,
               "static: cross-layer equalization of Conv pairs before quantizing (the "
               "float function stays; pairs joined by ReLU6 are left alone)");
  sub.add_flag("--equalize-relu6", a.equalize_relu6,
               "with --equalize: a ReLU6 between a pair becomes Relu so the "
               "pair is equalized too (changes activations above 6)");
  sub.add_flag("--bias-correction", a.bias_correction,
               "static: correct each quantized layer's bias by its mean "
               "output error against float on the calibration data");
  sub.add_option("--bias-correction-batches", a.bias_correction_batches,
                 "calibration batches bias correction uses")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub.add_flag("--bn-reestimate", a.bn_reestimate,
               "static: recompute BatchNorm running statistics on the "
               "calibration batches (train-mode statistics) before folding");
  sub.add_flag("--smooth-quant{0.5}", a.smooth_quant,
               "static: SmoothQuant before calibration, folded into the LayerNorm or linear layer "
               "producing each "
               "smoothed activation; =ALPHA sets the migration strength (default 0.5), =search "
               "picks it per layer "
               "on the calibration data")
      ->type_name("[=ALPHA|search]");
  sub.add_flag("--adaround", a.adaround,
               "static: learn each Conv/Gemm/MatMul weight's rounding (AdaRound) on the "
               "calibration data after calibration");
  sub.add_option("--adaround-steps", a.adaround_steps, "AdaRound: Adam steps per layer")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub.add_option("--report", a.report,
                 "static: write the per-layer sensitivity (output MSE, top-1 with labels, "
                 "each layer alone quantized) to this JSON file")
      ->type_name("FILE.json");
  sub.add_option("--fallback-bf16", a.fallback_bf16,
                 "static: keep the K most sensitive layers as bf16 weights "
                 "(float32 compute) instead of int8")
      ->check(CLI::NonNegativeNumber)
      ->type_name("K");
}

// Normalization, calibration data and batches.
void add_data_options(CLI::App& sub, QuantizeArgs& a) {
  add_data_source_options(sub, a.calib);
  sub.add_option("--calib-batches", a.calib_batches, "calibration batches")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub.add_option("--batch", a.batch, "examples per calibration batch")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
}

// GPTQ and MatMulNBits.
void add_weight_only_options(CLI::App& sub, QuantizeArgs& a) {
  sub.add_option("--damp", a.damp, "GPTQ: damping, a fraction of the Hessian's mean diagonal")
      ->capture_default_str();
  sub.add_flag("--act-order", a.act_order, "GPTQ: quantize columns by decreasing Hessian diagonal");
  sub.add_option("--accuracy-level", a.accuracy_level,
                 "weight-only: MatMulNBits accuracy_level; 4 lets ONNX Runtime quantize "
                 "activations to int8 on the "
                 "fly (much faster, int8 weights above all; tamp's own evaluation stays float32)")
      ->check(CLI::IsMember({0, 4}))
      ->capture_default_str();
}

}  // namespace

Action setup_quantize(CLI::App& sub) {
  auto a = std::make_shared<QuantizeArgs>();
  add_model_arg(sub, a->model);
  sub.add_option("--out", a->out, "where the quantized model is written (ONNX)")
      ->required()
      ->type_name("OUT.onnx");
  sub.add_option("--method", a->method,
                 "static (int8 weights and activations calibrated on --calib-data), dynamic "
                 "(int8 weights, activations at run time) or weight-only (MatMulNBits)")
      ->required()
      ->check(CLI::IsMember(kMethods));
  sub.add_option("--bits", a->bits, "weight bits: 4 or 8 (default: 8 dynamic, 4 weight-only)")
      ->check(CLI::IsMember({4, 8}));
  sub.add_option("--group-size", a->group_size,
                 "weight-only: weights per scale along K, a power of two in 16..256 "
                 "(0: one scale per output channel)")
      ->capture_default_str();
  sub.add_option("--algorithm", a->algorithm,
                 "weight-only: rtn (round to nearest) or gptq (needs --calib-data)")
      ->capture_default_str();
  sub.add_flag("--symmetric", a->symmetric, "zero point in the middle of the range (the default)");
  sub.add_flag("--asymmetric", a->asymmetric,
               "a zero point per scale (weight-only) or per column (dynamic)");
  sub.add_flag("--per-tensor", a->per_tensor,
               "dynamic, static: one weight scale per layer instead of per output channel");
  sub.add_option("--calib-data", a->calib.spec,
                 "calibration data for static quantization and GPTQ (and the "
                 "per-layer error report): fashion-mnist[:train|:test] or hdf5:FILE.h5")
      ->type_name("NAME[:SPLIT]");
  add_static_options(sub, *a);
  add_data_options(sub, *a);
  add_weight_only_options(sub, *a);
  sub.add_option("--exclude", a->exclude,
                 "node names, op types (MatMul, Gemm) or weight names to keep in float")
      ->type_name("NAME|OP");
  sub.add_option("--eval-data", a->eval_data,
                 "also report top-1 accuracy of the float and quantized models in tamp "
                 "on this dataset (fashion-mnist[:test])")
      ->type_name("NAME[:SPLIT]");
  add_target_options(sub, a->target);
  add_data_input_output_options(sub, a->input, a->output);
  add_json_flag(sub, a->json);
  add_threads_option(sub, a->threads);
  return [a] { return run_quantize(*a); };
}

}  // namespace tamp::cli
