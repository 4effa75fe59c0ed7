#include <tamp/autograd/error.h>
#include <tamp/scheduler/tuning/criterion.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace tamp::tuning {

namespace {

double parse_number(const std::string& text, const std::string& what) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v)) {
    throw Error(fmt::format("{}: '{}' is not a number", what, text), ErrorKind::kInvalidInput);
  }
  return v;
}

}  // namespace

AccuracyCriterion AccuracyCriterion::parse(const std::string& text) {
  const std::string hint =
      "write relative:FRACTION (e.g. relative:0.01) or absolute:POINTS (e.g. absolute:0.005)";
  const auto colon = text.find(':');
  if (colon == std::string::npos) {
    throw Error(fmt::format("accuracy criterion '{}' has no kind", text), ErrorKind::kInvalidInput,
                hint);
  }
  const std::string kind = text.substr(0, colon);
  AccuracyCriterion c;
  if (kind == "relative")
    c.kind = Kind::kRelative;
  else if (kind == "absolute")
    c.kind = Kind::kAbsolute;
  else
    throw Error(fmt::format("accuracy criterion kind '{}' is unknown", kind),
                ErrorKind::kInvalidInput, hint);
  c.tolerance = parse_number(text.substr(colon + 1), "accuracy criterion");
  if (c.tolerance < 0 || (c.kind == Kind::kRelative && c.tolerance >= 1) || c.tolerance > 1) {
    throw Error(fmt::format("accuracy criterion '{}': the tolerance must be in [0, 1)", text),
                ErrorKind::kInvalidInput, hint);
  }
  return c;
}

double AccuracyCriterion::required(double baseline) const {
  return kind == Kind::kRelative ? baseline * (1 - tolerance) : baseline - tolerance;
}

bool AccuracyCriterion::met(double accuracy, double baseline) const {
  return accuracy >= required(baseline) - 1e-12;  // exact ties meet it
}

std::string AccuracyCriterion::describe() const {
  return kind == Kind::kRelative ? fmt::format("relative loss <= {:g} %", 100 * tolerance)
                                 : fmt::format("absolute loss <= {:g} points", 100 * tolerance);
}

Objective Objective::parse(const std::string& text) {
  Objective o;
  if (text == "size") return o;
  if (text == "bops") {
    o.kind = ObjectiveKind::kBops;
    return o;
  }
  if (text.rfind("latency:", 0) == 0) {
    o.kind = ObjectiveKind::kLatency;
    o.command = text.substr(8);
    if (o.command.find("{model}") == std::string::npos) {
      throw Error(fmt::format("latency command '{}' does not contain {{model}}", o.command),
                  ErrorKind::kInvalidInput,
                  "the command is run with {model} replaced by the exported file and must print "
                  "the latency last");
    }
    return o;
  }
  throw Error(fmt::format("objective '{}' is unknown", text), ErrorKind::kInvalidInput,
              "use size, bops or latency:COMMAND (COMMAND with {model})");
}

std::string Objective::name() const {
  switch (kind) {
    case ObjectiveKind::kSize:
      return "size";
    case ObjectiveKind::kBops:
      return "bops";
    case ObjectiveKind::kLatency:
      return "latency";
  }
  return "?";
}

double trial_score(double accuracy, double objective, double required_accuracy,
                   double baseline_objective) {
  if (accuracy >= required_accuracy - 1e-12) {
    return baseline_objective > 0 ? objective / baseline_objective : objective;
  }
  const double shortfall = (required_accuracy - accuracy) / std::max(required_accuracy, 1e-12);
  return 1 + 10 * shortfall;
}

}  // namespace tamp::tuning
