// Short wording of effective values for messages: "True (Axolotl default)",
// "True (x.yaml:12)". The full provenance chain travels with the finding.
#pragma once

#include <string>

#include <fmt/format.h>

#include "analyzer/defaults_table.h"
#include "analyzer/setup.h"

namespace gcheck::wording {

// "x.yaml:12" / "Axolotl default" / "TRL override" / "inferred from the file path".
inline std::string source(const Origin& o) {
  switch (o.kind) {
    case Origin::Kind::Key:
      return o.loc.span.begin.known() ? fmt::format("{}:{}", o.loc.file, o.loc.span.begin.line)
                                      : o.loc.file;
    case Origin::Kind::Default:
    case Origin::Kind::Override: {
      std::string gate = o.row ? row_versions(*o.row) : "";
      return fmt::format("{} {}{}", o.row ? o.row->stack : "library",
                         o.kind == Origin::Kind::Default ? "default" : "override",
                         gate.empty() ? "" : ", " + gate);
    }
    case Origin::Kind::Derived:
    case Origin::Kind::Unknown:
      return o.text;
  }
  return o.text;
}

template <class T>
std::string source(const Eff<T>& e) {
  return e.why.empty() ? std::string("unknown") : source(e.why.front());
}

inline std::string py(bool b) { return b ? "True" : "False"; }

// "use_reentrant=True (Axolotl default)"
inline std::string reentrant(const Setup& s) {
  return fmt::format("use_reentrant={} ({})", s.use_reentrant.known() ? py(*s.use_reentrant) : "?",
                     source(s.use_reentrant));
}

inline std::vector<Origin> chain(std::initializer_list<const std::vector<Origin>*> parts) {
  std::vector<Origin> out;
  for (const auto* p : parts) out.insert(out.end(), p->begin(), p->end());
  return out;
}

}  // namespace gcheck::wording
