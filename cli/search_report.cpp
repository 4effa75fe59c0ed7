#include "search_report.h"
#include "common.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace tamp::cli {

namespace {

nlohmann::ordered_json candidate_json(const search::Candidate& c) {
  nlohmann::ordered_json j{{"description", c.description}, {"origin", c.origin},
                           {"accuracy", c.accuracy},       {"macs", c.macs},
                           {"params", c.parameters},       {"on_front", c.on_front}};
  j["latency_ms"] = std::isnan(c.latency_ms) ? nlohmann::ordered_json(nullptr)
                                             : nlohmann::ordered_json(c.latency_ms);
  j["values"] = c.values;
  j["genome"] = c.genome;
  return j;
}

// The value of a candidate or baseline for a cost objective ("macs", "params", "latency").
double cost_of(const nlohmann::ordered_json& c, const std::string& objective) {
  const std::string key = objective == "latency" ? "latency_ms" : objective;
  return c.contains(key) && c[key].is_number() ? c[key].get<double>() : std::nan("");
}

constexpr int kW = 700, kH = 380, kL = 70, kR = 20, kT = 20, kB = 45;

struct Point {
  double x, y;
};

// A scatter plot's points: every candidate, the front (sorted by cost), the baselines and the
// chosen candidate (NaN when none), with the value ranges they span.
struct Plot {
  std::vector<Point> all, front, base;
  Point chosen{std::nan(""), std::nan("")};
  double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;

  // Pixel coordinates of a cost and an accuracy inside the frame.
  double px(double x) const { return kL + (x - x0) / (x1 - x0) * (kW - kL - kR); }
  double py(double y) const { return kH - kB - (y - y0) / (y1 - y0) * (kH - kT - kB); }
};

Plot collect_points(const nlohmann::ordered_json& search, const nlohmann::ordered_json& baselines,
                    const std::string& objective) {
  Plot plot;
  const auto& cands = search["candidates"];
  for (size_t i = 0; i < cands.size(); ++i) {
    const Point p{cost_of(cands[i], objective), 100 * cands[i].value("accuracy", 0.0)};
    if (!std::isfinite(p.x)) continue;
    plot.all.push_back(p);
    if (cands[i].value("on_front", false)) plot.front.push_back(p);
    if (static_cast<int>(i) == search.value("chosen", -1)) plot.chosen = p;
  }
  if (baselines.is_array()) {
    for (const auto& b : baselines) {
      const Point p{cost_of(b, objective), 100 * b.value("accuracy", 0.0)};
      if (std::isfinite(p.x)) plot.base.push_back(p);
    }
  }
  std::sort(plot.front.begin(), plot.front.end(),
            [](const Point& a, const Point& b) { return a.x < b.x; });
  for (const auto* set : {&plot.all, &plot.base}) {
    for (const auto& p : *set) {
      plot.x0 = std::min(plot.x0, p.x), plot.x1 = std::max(plot.x1, p.x);
      plot.y0 = std::min(plot.y0, p.y), plot.y1 = std::max(plot.y1, p.y);
    }
  }
  if (plot.x1 == plot.x0) plot.x1 = plot.x0 + 1;
  if (plot.y1 == plot.y0) plot.y1 = plot.y0 + 1;
  const double pad = 0.05 * (plot.y1 - plot.y0);
  plot.y0 -= pad, plot.y1 += pad;
  return plot;
}

// The frame, five ticks on each axis and the axis titles.
std::string axes_svg(const Plot& plot, const std::string& objective) {
  std::string svg =
      fmt::format("<rect x='{}' y='{}' width='{}' height='{}' fill='none' stroke='#999'/>", kL, kT,
                  kW - kL - kR, kH - kT - kB);
  for (int i = 0; i <= 4; ++i) {
    const double y = plot.y0 + (plot.y1 - plot.y0) * i / 4;
    const double x = plot.x0 + (plot.x1 - plot.x0) * i / 4;
    svg += fmt::format("<text x='{}' y='{:.1f}' font-size='11' text-anchor='end'>{:.2f}</text>",
                       kL - 4, plot.py(y) + 4, y);
    svg += fmt::format("<text x='{:.1f}' y='{}' font-size='11' text-anchor='middle'>{:.4g}</text>",
                       plot.px(x), kH - kB + 14, x);
  }
  svg += fmt::format("<text x='{}' y='{}' font-size='12' text-anchor='middle'>{}</text>",
                     (kW + kL) / 2, kH - 8,
                     objective == "latency"  ? "ONNX Runtime latency (ms)"
                     : objective == "params" ? "parameters"
                                             : "MACs per example");
  return svg + fmt::format(
                   "<text x='14' y='{}' font-size='12' transform='rotate(-90 14 {})' "
                   "text-anchor='middle'>validation top-1 %</text>",
                   (kH - kB + kT) / 2, (kH - kB + kT) / 2);
}

// Candidates grey, the front joined in blue, baselines as orange squares, the chosen one
// circled in red, and the legend.
std::string points_svg(const Plot& plot) {
  std::string svg;
  for (const auto& p : plot.all) {
    svg += fmt::format("<circle cx='{:.1f}' cy='{:.1f}' r='3' fill='#bbb'/>", plot.px(p.x),
                       plot.py(p.y));
  }
  std::string pts;
  for (const auto& p : plot.front) pts += fmt::format("{:.1f},{:.1f} ", plot.px(p.x), plot.py(p.y));
  svg +=
      fmt::format("<polyline fill='none' stroke='#1f77b4' stroke-width='1.5' points='{}'/>", pts);
  for (const auto& p : plot.front) {
    svg += fmt::format("<circle cx='{:.1f}' cy='{:.1f}' r='4' fill='#1f77b4'/>", plot.px(p.x),
                       plot.py(p.y));
  }
  for (const auto& p : plot.base) {
    svg += fmt::format("<rect x='{:.1f}' y='{:.1f}' width='8' height='8' fill='#ff7f0e'/>",
                       plot.px(p.x) - 4, plot.py(p.y) - 4);
  }
  if (std::isfinite(plot.chosen.x)) {
    svg += fmt::format(
        "<circle cx='{:.1f}' cy='{:.1f}' r='7' fill='none' stroke='#d62728' stroke-width='2'/>",
        plot.px(plot.chosen.x), plot.py(plot.chosen.y));
  }
  svg += fmt::format("<text x='{}' y='{}' font-size='11' fill='#1f77b4'>Pareto front</text>",
                     kL + 8, kT + 14);
  svg += fmt::format("<text x='{}' y='{}' font-size='11' fill='#d62728'>chosen</text>", kL + 8,
                     kT + 28);
  if (!plot.base.empty()) {
    svg += fmt::format(
        "<text x='{}' y='{}' font-size='11' fill='#ff7f0e'>uniform channel pruning</text>", kL + 8,
        kT + 42);
  }
  return svg;
}

std::string scatter(const nlohmann::ordered_json& search, const nlohmann::ordered_json& baselines,
                    const std::string& objective) {
  const std::string open =
      fmt::format("<svg width='{}' height='{}' xmlns='http://www.w3.org/2000/svg'>", kW, kH);
  const Plot plot = collect_points(search, baselines, objective);
  if (plot.all.empty() && plot.base.empty())
    return open + "<text x='20' y='40'>no candidates</text></svg>";
  return open + axes_svg(plot, objective) + points_svg(plot) + "</svg>";
}

}  // namespace

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

nlohmann::ordered_json search_json(const search::SearchResult& r) {
  nlohmann::ordered_json j{{"strategy", r.strategy},
                           {"search", r.search},
                           {"pick", r.pick},
                           {"objectives", r.objectives},
                           {"validation_examples", r.validation_examples},
                           {"seconds", r.seconds}};
  j["dimensions"] = nlohmann::ordered_json::array();
  for (const auto& d : r.dimensions) {
    j["dimensions"].push_back({{"kind", compression::search::dimension_kind_name(d.kind)},
                               {"name", d.name},
                               {"full", d.full},
                               {"choices", d.choices}});
  }
  j["candidates"] = nlohmann::ordered_json::array();
  for (const auto& c : r.candidates) j["candidates"].push_back(candidate_json(c));
  j["front"] = r.front;
  j["chosen"] = r.chosen;
  return j;
}

std::string search_report_section(const nlohmann::ordered_json& search,
                                  const nlohmann::ordered_json& baselines) {
  std::vector<std::string> objectives;
  for (const auto& o : search["objectives"]) objectives.push_back(o.get<std::string>());
  std::string html = fmt::format(
      "<h2>Architecture search</h2><p>strategy {}, {} over {} dimensions; {} candidates evaluated "
      "on {} validation "
      "examples in {:.0f} s; pick rule {}</p>",
      html_escape(search.value("strategy", "")), html_escape(search.value("search", "")),
      search["dimensions"].size(), search["candidates"].size(),
      search.value("validation_examples", 0), search.value("seconds", 0.0),
      html_escape(search.value("pick", "")));
  for (const auto& o : objectives)
    html += "<h3>Validation accuracy against " + html_escape(o) + "</h3>" +
            scatter(search, baselines, o);
  html +=
      "<h3>Pareto front</h3><table><tr><th></th><th>top-1 "
      "%</th><th>MACs</th><th>params</th><th>latency ms</th>"
      "<th style='text-align:left'>sub-network</th></tr>";
  const auto& cands = search["candidates"];
  for (const auto& i : search["front"]) {
    const auto& c = cands[i.get<size_t>()];
    const bool chosen = i.get<int>() == search.value("chosen", -1);
    html += fmt::format(
        "<tr><td>{}</td><td>{:.2f}</td><td>{}</td><td>{}</td><td>{}</td><td "
        "style='text-align:left'>{}</td></tr>",
        chosen ? "chosen" : "", 100 * c.value("accuracy", 0.0),
        count_text(c.value("macs", int64_t{0})), count_text(c.value("params", int64_t{0})),
        c["latency_ms"].is_number() ? fmt::format("{:.3f}", c["latency_ms"].get<double>()) : "",
        html_escape(c.value("description", "")));
  }
  return html + "</table>";
}

}  // namespace tamp::cli
