#include "analyzer/python/fact_sink.h"

#include <fmt/format.h>

namespace gcheck::py {

std::string FactSink::describe(const Location& loc, const std::string& raw) {
  return fmt::format("line {}: {}", loc.span.begin.line, raw);
}

void FactSink::finalize() {
  // The same unreadable value reached twice (a dict passed to two calls) is said once.
  std::vector<Unreadable> unique;
  for (auto& u : f_.unreadable) {
    bool dup = false;
    for (const auto& k : unique)
      dup |= k.key == u.key && k.why == u.why && k.loc.file == u.loc.file &&
             k.loc.span.begin == u.loc.span.begin;
    if (!dup) unique.push_back(std::move(u));
  }
  f_.unreadable = std::move(unique);
  for (auto& [ptr, s] : states_) {
    (void)ptr;
    if (!s.conflict && !s.unknown) continue;
    Location at = s.where();
    if (!at.known()) continue;  // only unreadable statements: already reported
    std::string list;
    for (size_t i = 0; i < s.seen.size(); ++i) list += (i ? "; " : "") + s.seen[i];
    f_.unreadable.push_back(Unreadable{
        at, s.key(),
        fmt::format("stated more than once with different or unreadable values ({}); which one "
                    "holds depends on the path the script takes",
                    list)});
    s.reset();
  }
}

}  // namespace gcheck::py
