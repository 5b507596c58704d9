// Versions, ranges, requirement pins, the exploration of unknowns and condition wording.
#include <algorithm>

#include <doctest/doctest.h>

#include "analyzer/project.h"
#include "analyzer/versions.h"

using namespace gcheck;

namespace {
Version v(const char* s) {
  auto r = Version::parse(s);
  REQUIRE_MESSAGE(r.has_value(), s);
  return *r;
}
}  // namespace

TEST_CASE("versions: PEP 440 ordering") {
  CHECK(v("4.36.2") < v("4.37.0"));
  CHECK(v("5.0.0.dev0") < v("5.0.0rc1"));
  CHECK(v("5.0.0rc1") < v("5.0.0"));
  CHECK(v("5.0.0") < v("5.0.0.post1"));
  CHECK(v("5.0") == v("5.0.0"));
  CHECK(v("2.3.1+cu121") == v("2.3.1"));
  CHECK(v("0.19.3") < v("0.19.10"));
  CHECK_FALSE(Version::parse("latest").has_value());
}

TEST_CASE("versions: requirement specifiers") {
  auto r = VersionRange::parse_spec(">=4.40,<5");
  REQUIRE(r);
  CHECK(r->contains(v("4.46.0")));
  CHECK_FALSE(r->contains(v("5.0.0")));
  auto e = VersionRange::parse_spec("==4.46.0");
  REQUIRE(e);
  CHECK(e->exact());
  auto w = VersionRange::parse_spec("==4.46.*");
  REQUIRE(w);
  CHECK(w->contains(v("4.46.3")));
  CHECK_FALSE(w->contains(v("4.47.0")));
  auto c = VersionRange::parse_spec("~=0.27.0");
  REQUIRE(c);
  CHECK(c->contains(v("0.27.5")));
  CHECK_FALSE(c->contains(v("0.28.0")));
}

TEST_CASE("versions: requirements.txt lines") {
  auto a = parse_requirement("transformers>=4.40,<5  # pinned for trl");
  REQUIRE(a);
  CHECK(a->first == "transformers");
  auto b = parse_requirement("deepspeed[autotuning]==0.18.0 ; sys_platform == 'linux'");
  REQUIRE(b);
  CHECK(b->first == "deepspeed");
  CHECK(b->second.exact());
  CHECK(parse_requirement("LLaMA-Factory==0.9.4")->first == "llamafactory");
  CHECK_FALSE(parse_requirement("numpy==1.26"));
  CHECK_FALSE(parse_requirement("-r other.txt"));
  CHECK_FALSE(parse_requirement("trl @ git+https://example.invalid/trl"));
}

TEST_CASE("scenario: known versions answer without forking") {
  VersionMap known;
  known["transformers"] = VersionInfo{*VersionRange::parse_spec("==4.46.0"), {}, "test"};
  size_t runs = 0;
  auto paths = explore(known, [&](Scenario& sc, size_t) {
    ++runs;
    CHECK(sc.at_least("transformers", "4.37.0"));
    CHECK(sc.below("transformers", "5.1.0"));
  });
  CHECK(runs == 1);
  CHECK(paths.front().describe().empty());
}

TEST_CASE("scenario: unknown versions are explored on every side of each gate") {
  VersionMap known;
  std::vector<std::string> seen;
  auto paths = explore(known, [&](Scenario& sc, size_t) {
    std::string bucket = sc.below("transformers", "4.37.0")   ? "old"
                         : sc.below("transformers", "5.1.0") ? "mid"
                                                             : "new";
    seen.push_back(bucket);
  });
  std::sort(seen.begin(), seen.end());
  CHECK(seen == std::vector<std::string>{"mid", "new", "old"});
  REQUIRE(paths.size() == 3);
  std::vector<std::string> conds;
  for (const auto& p : paths) conds.push_back(p.describe());
  std::sort(conds.begin(), conds.end());
  CHECK(conds == std::vector<std::string>{"4.37.0 <= transformers < 5.1.0",
                                          "transformers < 4.37.0", "transformers >= 5.1.0"});
}

TEST_CASE("scenario: bounds from pins narrow the exploration") {
  VersionMap known;
  known["transformers"] = VersionInfo{*VersionRange::parse_spec(">=4.40"), {}, "test"};
  size_t runs = 0;
  explore(known, [&](Scenario& sc, size_t) {
    ++runs;
    CHECK(sc.at_least("transformers", "4.37.0"));  // determined by the lower bound
    sc.below("transformers", "5.1.0");             // still open: forks
  });
  CHECK(runs == 2);
}

TEST_CASE("conditions: irrelevant assumptions are dropped, adjacent ranges joined") {
  VersionMap known;
  std::vector<bool> holds;
  auto paths = explore(known, [&](Scenario& sc, size_t) {
    bool old_tf = sc.below("transformers", "4.35.0") || sc.below("transformers", "4.37.0");
    sc.at_least("trl", "0.22.0");  // asked, but does not matter for the outcome
    holds.push_back(old_tf);
  });
  CHECK(describe_condition(paths, holds) == "transformers < 4.37.0");
  std::vector<bool> all(paths.size(), true);
  CHECK(describe_condition(paths, all).empty());
}

TEST_CASE("conditions: environment facts") {
  VersionMap known;
  std::vector<bool> holds;
  auto paths = explore(known, [&](Scenario& sc, size_t) {
    holds.push_back(sc.env(EnvFact::MultiProcess, std::nullopt));
  });
  REQUIRE(paths.size() == 2);
  CHECK(describe_condition(paths, holds) == "launched on more than one process");
}

TEST_CASE("conditions: a dimension is kept when dropping it would cover paths where it fails") {
  // Holds only for old transformers AND old trl; newer trl answers the question itself.
  VersionMap known;
  std::vector<bool> holds;
  auto paths = explore(known, [&](Scenario& sc, size_t) {
    bool trl_sets = sc.at_least("trl", "0.27.0") && sc.below("transformers", "5.0.0");
    holds.push_back(!trl_sets && sc.below("transformers", "4.37.0"));
  });
  CHECK(describe_condition(paths, holds) == "transformers < 4.37.0 and trl < 0.27.0");
}
