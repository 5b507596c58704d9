#!/usr/bin/env bash
# Installs gcheck's build and test dependencies from Debian 12 packages (run as root).
# GCHECK_MINIMAL=1 installs only what `gcheck lint` on configs needs.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  echo "scripts/deps.sh: run as root (it uses apt-get)" >&2
  exit 2
fi
core=(build-essential cmake ninja-build pkg-config git
      libyaml-dev nlohmann-json3-dev libcli11-dev libfmt-dev libtomlplusplus-dev doctest-dev
      python3 python3-yaml python3-jsonschema)
optional=(
  # runtime probe (CPU flavour) and its proof of faithfulness
  libtorch-dev libgloo-dev python3-torch
  # Python front end: tree-sitter, and npm to fetch the pinned grammar at build time
  libtree-sitter-dev nodejs npm
  # C++ front end
  clang-14 libclang-cpp14-dev libclang-14-dev llvm-14-dev
)
pkgs=("${core[@]}")
if [ "${GCHECK_MINIMAL:-0}" != 1 ]; then pkgs+=("${optional[@]}"); fi
missing=()
for p in "${pkgs[@]}"; do
  # A Node.js from another source (e.g. NodeSource) ships its own npm and conflicts with
  # Debian's nodejs/npm packages: any working npm on PATH will do for fetching the grammar.
  if { [ "$p" = nodejs ] || [ "$p" = npm ]; } && command -v npm >/dev/null 2>&1 \
     && command -v node >/dev/null 2>&1; then
    continue
  fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
