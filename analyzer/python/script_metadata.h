// PEP 723 inline script metadata: the `# /// script` ... `# ///` comment block whose TOML names
// the dependencies a runner (uv run, pipx run, hatch run) installs for the script.
#pragma once

#include "analyzer/code_facts.h"
#include "analyzer/source.h"

namespace gcheck::py {

// Adds a VersionDeclFact for each dependency of the script block that pins or bounds a library
// gcheck knows. The block is found by the PEP's line rules on the raw lines (no parse needed:
// it is a comment): an opening line exactly `# /// script`, then lines that are `#` alone or
// start with `# `, closed by the last `# ///` line of that run. Several script blocks are an
// error for the runners, so none is read then; a block whose TOML does not parse is ignored.
void read_script_metadata(const SourceFile& src, CodeFacts& code);

}  // namespace gcheck::py
