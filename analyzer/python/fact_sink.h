// Where config-like values a script states go: the ordinary Facts fields. A script may state a
// value more than once (two TrainingArguments in the branches of an if, use_cache set before
// and after training); when the statements disagree, or one of them cannot be read, the
// field is left absent and an Unreadable says where and why. Never a guess.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "analyzer/facts.h"

namespace gcheck::py {

class FactSink {
 public:
  explicit FactSink(Facts& f) : f_(f) {}

  template <class T>
  void put(Opt<T>& field, Fact<T> v) {
    State& s = state(field);
    s.seen.push_back(describe(v.loc, v.raw));
    if (!field) {
      field = std::move(v);
    } else if (!(field->value == v.value)) {
      s.conflict = true;
    }
  }

  // The statement sets `field` to something gcheck cannot read.
  template <class T>
  void unknown(Opt<T>& field, Unreadable u) {
    State& s = state(field);
    s.unknown = true;
    s.seen.push_back(describe(u.loc, "?"));
    f_.unreadable.push_back(std::move(u));
  }

  // A value with no Facts field behind it (a checkpoint call's option, say).
  void unreadable(Unreadable u) { f_.unreadable.push_back(std::move(u)); }

  // Clears the fields stated in disagreeing or unreadable ways and says why.
  void finalize();

 private:
  struct State {
    std::function<void()> reset;
    std::function<Location()> where;
    std::function<std::string()> key;
    std::vector<std::string> seen;  // "line 12: True"
    bool conflict = false;
    bool unknown = false;
  };
  template <class T>
  State& state(Opt<T>& field) {
    State& s = states_[static_cast<void*>(&field)];
    if (!s.reset) {
      s.reset = [&field] { field.reset(); };
      s.where = [&field] { return field ? field->loc : Location{}; };
      s.key = [&field] { return field ? field->key : std::string(); };
    }
    return s;
  }
  static std::string describe(const Location& loc, const std::string& raw);

  Facts& f_;
  std::map<void*, State> states_;
};

}  // namespace gcheck::py
