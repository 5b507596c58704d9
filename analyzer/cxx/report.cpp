#include "analyzer/cxx/report.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace gcheck::cxx {

using nlohmann::json;

namespace {

json loc_json(const Location& l) {
  if (!l.known()) return nullptr;
  return json{{"file", l.file},
              {"line", l.span.begin.line},
              {"col", l.span.begin.column},
              {"end_line", l.span.end.line},
              {"end_col", l.span.end.column}};
}

json call_json(const CodeCall& c) {
  return json{{"loc", loc_json(c.loc)}, {"callee", c.callee}, {"order", c.order}};
}

json code_json(const CodeFacts& c) {
  json fns = json::array();
  for (const auto& f : c.recompute_functions) {
    fns.push_back(json{{"loc", loc_json(f.loc)},
                       {"name", f.name},
                       {"forward_no_grad", f.forward_no_grad},
                       {"backward_recomputes", f.backward_recomputes},
                       {"saves_rng", f.saves_rng},
                       {"dropout_inside", f.dropout_inside},
                       {"dropout_loc", loc_json(f.dropout_loc)},
                       {"mutates_state", f.mutates_state},
                       {"mutation_loc", loc_json(f.mutation_loc)},
                       {"nested", f.nested},
                       {"nested_loc", loc_json(f.nested_loc)}});
  }
  json calls = json::array();
  for (const auto& r : c.recompute_calls) {
    calls.push_back(json{{"call", call_json(r.call)},
                         {"function", r.function},
                         {"inputs_frozen", r.inputs_frozen},
                         {"frozen_source_loc", loc_json(r.frozen_source_loc)}});
  }
  json freezes = json::array();
  for (const auto& f : c.freezes) {
    freezes.push_back(json{{"loc", loc_json(f.loc)},
                           {"target", f.target},
                           {"embeddings", f.embeddings},
                           {"whole_model", f.whole_model},
                           {"order", f.order}});
  }
  auto list = [](const std::vector<CodeCall>& v) {
    json a = json::array();
    for (const auto& c : v) a.push_back(call_json(c));
    return a;
  };
  return json{{"recompute_functions", fns},
              {"recompute_calls", calls},
              {"autograd_grad", list(c.autograd_grad)},
              {"nonscalar_backward", list(c.nonscalar_backward)},
              {"freezes", freezes}};
}

// Reading: every field is checked; a malformed document is an error, never a partial result.
struct Reader {
  std::string error;

  bool fail(std::string msg) {
    if (error.empty()) error = std::move(msg);
    return false;
  }

  const json* field(const json& o, const char* k, json::value_t type, const std::string& where) {
    if (!o.is_object()) {
      fail(fmt::format("{}: expected an object", where));
      return nullptr;
    }
    auto it = o.find(k);
    if (it == o.end()) {
      fail(fmt::format("{}: missing '{}'", where, k));
      return nullptr;
    }
    bool ok =
        it->type() == type ||
        (type == json::value_t::number_integer && it->type() == json::value_t::number_unsigned) ||
        (type == json::value_t::number_float && it->is_number());
    if (!ok) {
      fail(fmt::format("{}: '{}' has the wrong type", where, k));
      return nullptr;
    }
    return &*it;
  }
  std::string str(const json& o, const char* k, const std::string& w) {
    const json* v = field(o, k, json::value_t::string, w);
    return v ? v->get<std::string>() : std::string();
  }
  bool boolean(const json& o, const char* k, const std::string& w) {
    const json* v = field(o, k, json::value_t::boolean, w);
    return v && v->get<bool>();
  }
  int64_t integer(const json& o, const char* k, const std::string& w) {
    const json* v = field(o, k, json::value_t::number_integer, w);
    return v ? v->get<int64_t>() : 0;
  }
  double number(const json& o, const char* k, const std::string& w) {
    const json* v = field(o, k, json::value_t::number_float, w);
    return v ? v->get<double>() : 0.0;
  }
  const json& array(const json& o, const char* k, const std::string& w) {
    static const json empty = json::array();
    const json* v = field(o, k, json::value_t::array, w);
    return v ? *v : empty;
  }
  Location loc(const json& o, const char* k, const std::string& w) {
    if (!o.is_object() || !o.contains(k)) {
      fail(fmt::format("{}: missing '{}'", w, k));
      return {};
    }
    const json& l = o.at(k);
    if (l.is_null()) return {};
    std::string lw = w + "." + k;
    Location out;
    out.file = str(l, "file", lw);
    auto u32 = [&](const char* f) {
      int64_t v = integer(l, f, lw);
      if (v < 0 || v > UINT32_MAX) fail(fmt::format("{}: '{}' out of range", lw, f));
      return static_cast<uint32_t>(v);
    };
    out.span.begin = {u32("line"), u32("col")};
    out.span.end = {u32("end_line"), u32("end_col")};
    return out;
  }
  CodeCall call(const json& o, const std::string& w) {
    CodeCall c;
    c.loc = loc(o, "loc", w);
    c.callee = str(o, "callee", w);
    c.order = static_cast<int>(integer(o, "order", w));
    return c;
  }
  std::vector<CodeCall> calls(const json& o, const char* k, const std::string& w) {
    std::vector<CodeCall> out;
    const json& a = array(o, k, w);
    for (size_t i = 0; i < a.size(); ++i)
      out.push_back(call(a[i], fmt::format("{}.{}[{}]", w, k, i)));
    return out;
  }

  CodeFacts code(const json& o, const std::string& w) {
    CodeFacts c;
    const json& fns = array(o, "recompute_functions", w);
    for (size_t i = 0; i < fns.size(); ++i) {
      std::string fw = fmt::format("{}.recompute_functions[{}]", w, i);
      const json& j = fns[i];
      RecomputeFunctionFact f;
      f.loc = loc(j, "loc", fw);
      f.name = str(j, "name", fw);
      f.forward_no_grad = boolean(j, "forward_no_grad", fw);
      f.backward_recomputes = boolean(j, "backward_recomputes", fw);
      f.saves_rng = boolean(j, "saves_rng", fw);
      f.dropout_inside = boolean(j, "dropout_inside", fw);
      f.dropout_loc = loc(j, "dropout_loc", fw);
      f.mutates_state = boolean(j, "mutates_state", fw);
      f.mutation_loc = loc(j, "mutation_loc", fw);
      f.nested = boolean(j, "nested", fw);
      f.nested_loc = loc(j, "nested_loc", fw);
      c.recompute_functions.push_back(std::move(f));
    }
    const json& calls_ = array(o, "recompute_calls", w);
    for (size_t i = 0; i < calls_.size(); ++i) {
      std::string cw = fmt::format("{}.recompute_calls[{}]", w, i);
      const json& j = calls_[i];
      RecomputeCallFact r;
      if (const json* cj = field(j, "call", json::value_t::object, cw))
        r.call = call(*cj, cw + ".call");
      r.function = str(j, "function", cw);
      r.inputs_frozen = boolean(j, "inputs_frozen", cw);
      r.frozen_source_loc = loc(j, "frozen_source_loc", cw);
      c.recompute_calls.push_back(std::move(r));
    }
    c.autograd_grad = calls(o, "autograd_grad", w);
    c.nonscalar_backward = calls(o, "nonscalar_backward", w);
    const json& fr = array(o, "freezes", w);
    for (size_t i = 0; i < fr.size(); ++i) {
      std::string fw = fmt::format("{}.freezes[{}]", w, i);
      FreezeFact f;
      f.loc = loc(fr[i], "loc", fw);
      f.target = str(fr[i], "target", fw);
      f.embeddings = boolean(fr[i], "embeddings", fw);
      f.whole_model = boolean(fr[i], "whole_model", fw);
      f.order = static_cast<int>(integer(fr[i], "order", fw));
      c.freezes.push_back(std::move(f));
    }
    return c;
  }
};

}  // namespace

std::string report_to_json(const Report& r) {
  json units = json::array();
  for (const auto& u : r.units) {
    json diags = json::array();
    for (const auto& d : u.diagnostics)
      diags.push_back(json{{"loc", loc_json(d.loc)}, {"message", d.message}});
    units.push_back(json{{"file", u.file},
                         {"analyzed", u.analyzed},
                         {"reason", u.reason},
                         {"diagnostics", diags},
                         {"error_count", u.error_count},
                         {"parse_ms", u.parse_ms},
                         {"analysis_ms", u.analysis_ms},
                         {"code", code_json(u.code)}});
  }
  json doc{{"gcheck_cxx", kReportVersion}, {"units", units}};
  // Paths and messages come from the user's files: never let bad UTF-8 throw.
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<Report> report_from_json(std::string_view text) {
  Location here{"<gcheck-cxx output>", {}};
  json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return InputError{here, "gcheck-cxx wrote output that is not JSON"};
  Reader rd;
  int64_t version = rd.integer(doc, "gcheck_cxx", "report");
  if (!rd.error.empty()) return InputError{here, rd.error};
  if (version != kReportVersion) {
    return InputError{here, fmt::format("gcheck-cxx speaks report version {}, gcheck expects {} "
                                        "(install matching builds)",
                                        version, kReportVersion)};
  }
  Report r;
  const json& units = rd.array(doc, "units", "report");
  for (size_t i = 0; i < units.size(); ++i) {
    std::string w = fmt::format("units[{}]", i);
    const json& u = units[i];
    UnitReport ur;
    ur.file = rd.str(u, "file", w);
    ur.analyzed = rd.boolean(u, "analyzed", w);
    ur.reason = rd.str(u, "reason", w);
    const json& diags = rd.array(u, "diagnostics", w);
    for (size_t k = 0; k < diags.size(); ++k) {
      std::string dw = fmt::format("{}.diagnostics[{}]", w, k);
      ur.diagnostics.push_back({rd.loc(diags[k], "loc", dw), rd.str(diags[k], "message", dw)});
    }
    int64_t ec = rd.integer(u, "error_count", w);
    ur.error_count = ec > 0 ? static_cast<size_t>(ec) : 0;
    ur.parse_ms = rd.number(u, "parse_ms", w);
    ur.analysis_ms = rd.number(u, "analysis_ms", w);
    if (const json* c = rd.field(u, "code", json::value_t::object, w))
      ur.code = rd.code(*c, w + ".code");
    r.units.push_back(std::move(ur));
  }
  if (!rd.error.empty()) return InputError{here, "malformed gcheck-cxx output: " + rd.error};
  return r;
}

}  // namespace gcheck::cxx
