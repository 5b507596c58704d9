// A plain-text listing of what the Python front end read from a script: the Facts fields it
// set (with the key's place and the text as written), the values it could not read, and every
// CodeFacts record with every location, guard, binding and subject it holds: everything the
// resolver can read. For tests (which compare the default reading with a full parse), the
// benchmark's --dump, and debugging; one record per line (two for a checkpoint call), stable
// order.
#pragma once

#include <string>

#include "analyzer/facts.h"

namespace gcheck {

std::string dump_python_facts(const Facts& f);

}  // namespace gcheck
