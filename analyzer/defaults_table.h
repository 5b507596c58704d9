// The ONE table of library defaults and overrides that the resolver applies. Each row names
// who applies it, the library versions it holds for, the setting, the value, when it applies,
// and where that behaviour is documented. The resolver refers to rows by id; `gcheck explain`
// cites them; `gcheck defaults` prints the table.
#pragma once

#include <span>
#include <string_view>

#include "analyzer/versions.h"

namespace gcheck {

struct DefaultRow {
  std::string_view id;       // stable id, e.g. "trl.gradient_checkpointing"
  std::string_view stack;    // who applies it: transformers, TRL, Axolotl, ...
  std::string_view library;  // whose version gates it ("" = every version)
  std::string_view since;    // inclusive lower bound ("" = none)
  std::string_view until;    // exclusive upper bound ("" = none)
  std::string_view key;      // the setting
  std::string_view value;    // the effective value ("true", "false", "0", "{}", ...)
  std::string_view when;     // the condition, in words
  std::string_view source;   // citation: file, PR, issue
  // An optional second version gate (both must hold).
  std::string_view library2 = {};
  std::string_view since2 = {};
  std::string_view until2 = {};
};

std::span<const DefaultRow> default_rows();
// The row with this id; an unknown id is a programming error (aborts with a message).
const DefaultRow& row(std::string_view id);
// Whether the row's version gates hold on this path (asks the scenario, which may fork).
bool row_applies(const DefaultRow& r, Scenario& sc);
// The first of `ids` whose gates hold, or null.
const DefaultRow* pick_row(Scenario& sc, std::initializer_list<std::string_view> ids);
// "transformers >= 5.1.0", "trl >= 0.27.0 with transformers < 5.0.0", "" for ungated rows.
std::string row_versions(const DefaultRow& r);
bool row_bool(const DefaultRow& r);

}  // namespace gcheck
