#include <tamp/autograd/op.h>

#include <algorithm>

namespace tamp {

std::string_view canonical_domain(std::string_view domain) {
  return domain == "ai.onnx" ? std::string_view{} : domain;
}

bool OpDef::differentiates_input(int i) const {
  return differentiable() && std::find(nondiff_inputs.begin(), nondiff_inputs.end(), i) == nondiff_inputs.end();
}

void OpRegistry::add(OpDef def) {
  def.domain = std::string(canonical_domain(def.domain));
  for (const auto& d : ops_) {
    if (d.domain == def.domain && d.type == def.type && d.since_version == def.since_version) {
      throw Error(fmt::format("op {} (domain '{}', since {}) registered twice", def.type,
                              def.domain, def.since_version), ErrorKind::kInternal);
    }
  }
  ops_.push_back(std::move(def));
}

const OpDef* OpRegistry::find(std::string_view domain, std::string_view type, int opset) const {
  domain = canonical_domain(domain);
  const OpDef* best = nullptr;
  for (const auto& d : ops_) {
    if (d.type != type || d.domain != domain || d.since_version > opset) continue;
    if (!best || d.since_version > best->since_version) best = &d;
  }
  return best;
}

const OpDef& OpRegistry::get(std::string_view domain, std::string_view type, int opset) const {
  if (const OpDef* d = find(domain, type, opset)) return *d;
  const std::string dom = domain.empty() ? "ai.onnx" : std::string(domain);
  bool other_version = false;
  for (const auto& d : ops_) other_version |= d.type == type && d.domain == canonical_domain(domain);
  if (other_version) {
    throw Error(fmt::format("op {} (domain {}) is not supported at opset {}", type, dom, opset),
                ErrorKind::kUnsupported, "re-export the model with opset 13 to 17");
  }
  throw Error(fmt::format("op {} (domain {}, opset {}) is not supported by tamp", type, dom, opset),
              ErrorKind::kUnsupported, "`tamp inspect` lists the supported ops");
}

}  // namespace tamp
