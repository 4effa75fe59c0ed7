#include <tamp/autograd/op.h>

#include <algorithm>

namespace tamp {

std::string_view canonical_domain(std::string_view domain) {
  return domain == "ai.onnx" ? std::string_view{} : domain;
}

bool OpDef::differentiates_input(int i) const {
  return differentiable() &&
         std::find(nondiff_inputs.begin(), nondiff_inputs.end(), i) == nondiff_inputs.end();
}

void OpRegistry::add(OpDef def) {
  def.domain = std::string(canonical_domain(def.domain));
  for (const auto& d : ops_) {
    if (d.domain == def.domain && d.type == def.type && d.since_version == def.since_version) {
      throw Error(fmt::format("op {} (domain '{}', since {}) registered twice", def.type,
                              def.domain, def.since_version),
                  ErrorKind::kInternal);
    }
  }
  ops_.push_back(std::move(def));
}

const OpDef* OpRegistry::find(std::string_view domain, std::string_view type, int opset) const {
  domain = canonical_domain(domain);
  if (domain.empty() && opset > kMaxOpset) return nullptr;
  const OpDef* best = nullptr;
  for (const auto& d : ops_) {
    if (d.type != type || d.domain != domain || d.since_version > opset) continue;
    if (!best || d.since_version > best->since_version) best = &d;
  }
  return best;
}

std::string OpRegistry::why_missing(std::string_view domain, std::string_view type,
                                    int opset) const {
  domain = canonical_domain(domain);
  int oldest = 0;
  for (const auto& d : ops_) {
    if (d.type == type && d.domain == domain && (oldest == 0 || d.since_version < oldest))
      oldest = d.since_version;
  }
  if (oldest == 0) return "tamp has no such op";
  if (!domain.empty()) return fmt::format("tamp implements it from opset {}", oldest);
  if (opset > kMaxOpset)
    return fmt::format("tamp implements the default domain up to opset {}", kMaxOpset);
  return fmt::format("tamp implements it at opsets {} to {}", oldest, kMaxOpset);
}

const OpDef& OpRegistry::get(std::string_view domain, std::string_view type, int opset) const {
  if (const OpDef* d = find(domain, type, opset)) return *d;
  const std::string dom = domain.empty() ? "ai.onnx" : std::string(domain);
  throw Error(fmt::format("op {} (domain {}, opset {}) is not supported: {}", type, dom, opset,
                          why_missing(domain, type, opset)),
              ErrorKind::kUnsupported, "`tamp inspect` lists the ops a model uses that tamp lacks");
}

}  // namespace tamp
