// A plain-text listing of what the Python front end read from a script: the Facts fields it
// set, the values it could not read, and every CodeFacts record with its location. For tests,
// the benchmark's --dump, and debugging; one record per line, stable order.
#pragma once

#include <string>

#include "analyzer/facts.h"

namespace gcheck {

std::string dump_python_facts(const Facts& f);

}  // namespace gcheck
