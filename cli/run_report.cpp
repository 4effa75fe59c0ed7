#include "run_report.h"
#include "common.h"
#include "search_report.h"

#include <tamp/compression/pruning/checker.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>

namespace tamp::cli {

namespace {

struct Series {
  std::string label;
  std::vector<std::pair<double, double>> points;
};

constexpr int kW = 640, kH = 260, kL = 60, kR = 20, kT = 20, kB = 40;
const char* kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"};

std::string line_plot(const std::string& title, const std::string& x_label,
                      const std::vector<Series>& series) {
  double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
  for (const auto& s : series) {
    for (auto [x, y] : s.points) {
      if (!std::isfinite(y)) continue;
      x0 = std::min(x0, x);
      x1 = std::max(x1, x);
      y0 = std::min(y0, y);
      y1 = std::max(y1, y);
    }
  }
  std::string svg =
      fmt::format("<h3>{}</h3><svg width='{}' height='{}' xmlns='http://www.w3.org/2000/svg'>",
                  html_escape(title), kW, kH);
  if (x0 > x1) return svg + "<text x='20' y='40'>no data</text></svg>";
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + 1;
  auto px = [&](double x) { return kL + (x - x0) / (x1 - x0) * (kW - kL - kR); };
  auto py = [&](double y) { return kH - kB - (y - y0) / (y1 - y0) * (kH - kT - kB); };
  svg += fmt::format("<rect x='{}' y='{}' width='{}' height='{}' fill='none' stroke='#999'/>", kL,
                     kT, kW - kL - kR, kH - kT - kB);
  for (int i = 0; i <= 4; ++i) {
    const double y = y0 + (y1 - y0) * i / 4;
    svg += fmt::format("<text x='{}' y='{:.1f}' font-size='11' text-anchor='end'>{:.3g}</text>",
                       kL - 4, py(y) + 4, y);
    const double x = x0 + (x1 - x0) * i / 4;
    svg += fmt::format("<text x='{:.1f}' y='{}' font-size='11' text-anchor='middle'>{:.0f}</text>",
                       px(x), kH - kB + 14, x);
  }
  svg += fmt::format("<text x='{}' y='{}' font-size='12' text-anchor='middle'>{}</text>",
                     (kW + kL) / 2, kH - 6, html_escape(x_label));
  for (size_t i = 0; i < series.size(); ++i) {
    std::string pts;
    for (auto [x, y] : series[i].points) {
      if (std::isfinite(y)) pts += fmt::format("{:.1f},{:.1f} ", px(x), py(y));
    }
    const char* color = kColors[i % 6];
    svg += fmt::format("<polyline fill='none' stroke='{}' stroke-width='1.5' points='{}'/>", color,
                       pts);
    if (series[i].points.size() < 30) {
      for (auto [x, y] : series[i].points) {
        if (std::isfinite(y))
          svg +=
              fmt::format("<circle cx='{:.1f}' cy='{:.1f}' r='3' fill='{}'/>", px(x), py(y), color);
      }
    }
    svg += fmt::format("<text x='{}' y='{}' font-size='11' fill='{}'>{}</text>", kL + 8,
                       kT + 14 + 14 * i, color, html_escape(series[i].label));
  }
  return svg + "</svg>";
}

std::string bar_chart(const std::string& title,
                      const std::vector<std::pair<std::string, double>>& bars,
                      const std::string& unit) {
  const int row = 18, label_w = 260, bar_w = 300;
  const int h = static_cast<int>(bars.size()) * row + 10;
  std::string svg =
      fmt::format("<h3>{}</h3><svg width='{}' height='{}' xmlns='http://www.w3.org/2000/svg'>",
                  html_escape(title), label_w + bar_w + 120, std::max(h, 30));
  if (bars.empty()) return svg + "<text x='10' y='20'>none</text></svg>";
  double top = 0;
  for (const auto& b : bars) top = std::max(top, b.second);
  if (top <= 0) top = 1;
  for (size_t i = 0; i < bars.size(); ++i) {
    const double y = 5 + static_cast<double>(i) * row;
    const double w = bars[i].second / top * bar_w;
    svg += fmt::format("<text x='{}' y='{:.0f}' font-size='11' text-anchor='end'>{}</text>",
                       label_w - 6, y + 12, html_escape(bars[i].first));
    svg += fmt::format("<rect x='{}' y='{:.0f}' width='{:.1f}' height='{}' fill='{}'/>", label_w, y,
                       w, row - 4, kColors[i % 2 == 0 ? 0 : 1]);
    svg += fmt::format("<text x='{:.1f}' y='{:.0f}' font-size='11'>{:.4g}{}</text>",
                       label_w + w + 4, y + 12, bars[i].second, html_escape(unit));
  }
  return svg + "</svg>";
}

// Bits of each quantized weight (FakeQuantize on an initializer); float tensors are 32.
std::vector<std::pair<std::string, double>> bits_per_tensor(const nn::Graph& g) {
  std::map<std::string, double> bits;
  for (const auto& [name, t] : g.initializers) {
    if (is_floating(t.dtype()) && t.numel() > 1)
      bits[name] = static_cast<double>(size_of(t.dtype()) * 8);
  }
  for (const auto& n :
       g.nodes) {  // scales and zero points are quantization parameters, not tensors of the model
    if (n.op_type != "FakeQuantize") continue;
    for (size_t i = 1; i < n.inputs.size(); ++i) bits.erase(n.inputs[i]);
  }
  for (const auto& n : g.nodes) {
    if (n.op_type != "FakeQuantize" || n.inputs.empty() || !bits.count(n.inputs[0])) continue;
    const double range =
        static_cast<double>(n.attrs->i("quant_max", 127) - n.attrs->i("quant_min", -128) + 1);
    bits[n.inputs[0]] = std::ceil(std::log2(range));
  }
  return {bits.begin(), bits.end()};
}

// The training loss per stage (over the steps of all stages) and the accuracy after each
// stage, from the metrics file's JSON lines.
struct MetricsSeries {
  std::vector<Series> loss;
  std::vector<std::pair<double, double>> accuracy;
};

MetricsSeries read_metrics(const std::string& metrics_path) {
  std::map<int, Series> loss;
  MetricsSeries out;
  std::map<int, int64_t> stage_offset;  // cumulative steps before each stage
  int64_t offset = 0;
  std::ifstream f(metrics_path);
  std::string line;
  while (std::getline(f, line)) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("type")) continue;
    const int stage = j.value("stage", 0);
    if (!stage_offset.count(stage)) stage_offset[stage] = offset;
    if (j["type"] == "train") {
      auto& s = loss[stage];
      s.label = fmt::format("stage {}", stage + 1);
      s.points.emplace_back(static_cast<double>(stage_offset[stage] + j.value("step", int64_t{0})),
                            j.value("loss", 0.0));
    } else if (j["type"] == "stage") {
      offset = stage_offset[stage] + j.value("steps", int64_t{0});
      if (j.contains("eval"))
        out.accuracy.emplace_back(stage + 1, 100 * j["eval"].value("top1", 0.0));
    }
  }
  for (auto& [k, s] : loss) out.loss.push_back(s);
  return out;
}

std::string stages_table(const nlohmann::json& stages) {
  std::string html =
      "<h2>Stages</h2><table><tr><th>stage</th><th>components</th><th>steps</th><th>train "
      "loss</th><th>top-1 %</th><th>sparsity %</th><th>bits</th><th>size</th><th>seconds</th>"
      "</tr>";
  for (const auto& s : stages) {
    std::string comps;
    for (const auto& c : s["components"])
      comps += (comps.empty() ? "" : " + ") + c.get<std::string>();
    // A calibration-only stage (ptq) trains nothing: no loss to show.
    const std::string loss = s["train_loss"].is_null()
                                 ? "calibration"
                                 : fmt::format("{:.4f}", s["train_loss"].get<double>());
    html += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1f}</td><td>{}</td>"
        "<td>{}</td><td>{:.1f}</td></tr>",
        html_escape(s.value("name", "")), html_escape(comps), s.value("steps", 0), loss,
        s["eval"].is_null() ? "" : fmt::format("{:.2f}", 100 * s["eval"].value("top1", 0.0)),
        100 * s.value("sparsity", 0.0), s.value("weight_bits", 32),
        bytes_text(s.value("size_bytes", uint64_t{0})), s.value("seconds", 0.0));
  }
  return html + "</table>";
}

}  // namespace

void write_run_report(const std::string& path, const ReportInput& in) {
  const MetricsSeries metrics = read_metrics(in.metrics_path);
  std::vector<std::pair<std::string, double>> sparsity;
  for (const auto& w : compression::pruning::sparsity_report(in.trained))
    sparsity.emplace_back(w.weight, 100 * w.sparsity);
  const auto& ex = in.summary["export"];
  const double before = ex.value("original_bytes", 0.0), after = ex.value("bytes", 0.0);

  std::string html =
      "<!DOCTYPE html><html><head><meta charset='utf-8'><title>tamp run report</title>"
      "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}table{border-collapse:"
      "collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}</style></head>"
      "<body>";
  html += fmt::format("<h1>tamp run: {}</h1><p>model {} &middot; recipe hash {}</p>",
                      html_escape(in.summary.value("recipe", "")), html_escape(in.recipe.model),
                      html_escape(in.recipe.hash));
  html += stages_table(in.summary["stages"]);
  html += fmt::format(
      "<h2>Exported model</h2><p>{} ({}): top-1 {:.2f} % on {} examples measured in tamp; {} "
      "&rarr; {}</p>",
      html_escape(ex.value("path", "")), html_escape(ex.value("format", "")),
      100 * ex["eval"].value("top1", 0.0), ex["eval"].value("examples", 0),
      bytes_text(static_cast<uint64_t>(before)), bytes_text(static_cast<uint64_t>(after)));
  if (in.summary.contains("search")) html += search_report_section(in.summary["search"], nullptr);
  html += line_plot("Training loss", "step (over all stages)", metrics.loss);
  html += line_plot("Accuracy after each stage", "stage", {Series{"top-1 %", metrics.accuracy}});
  html += bar_chart("Sparsity per layer", sparsity, " %");
  html += bar_chart("Bits per tensor", bits_per_tensor(in.trained), "");
  html +=
      bar_chart("Model size", {{"original", before / 1024}, {"exported", after / 1024}}, " KiB");
  html += "</body></html>\n";
  std::ofstream f(path);
  TAMP_CHECK(f, "cannot write '{}'", path);
  f << html;
}

}  // namespace tamp::cli
