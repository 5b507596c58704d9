#!/usr/bin/env bash
# The clang-tidy module on the C++ fixtures: the warnings clang-tidy prints with
# libgcheck-tidy.so must be exactly the `// gcheck-expect: GCxxx` lines (one line below each).
#   cxx_tidy_test.sh CLANG_TIDY LIBGCHECK_TIDY LIBTORCH_API_INCLUDE FIXTURE_DIR
set -euo pipefail
tidy=$1 plugin=$(realpath "$2") torch_inc=$(realpath "$3") dir=$4
cd "$dir"
files=(*.cpp)
expected=$(for f in "${files[@]}"; do
  awk -v f="$f" '/\/\/ gcheck-expect:/ { sub(/.*\/\/ gcheck-expect:/, ""); gsub(/,/, " ");
    for (i = 1; i <= NF; i++) print f ":" NR + 1 ":" $i }' "$f"
done | sort)
out=$("$tidy" --load="$plugin" -checks='-*,gcheck-*' --quiet "${files[@]}" -- \
  -std=c++17 -I"$torch_inc" 2>/dev/null || true)
actual=$(printf '%s\n' "$out" | sed -n 's|^\(/[^:]*/\)\?\([^/:]*\.cpp\):\([0-9]*\):[0-9]*: warning: .*\[gcheck-\(GC[0-9]*\)\]$|\2:\3:\4|p' | sort)
if [[ "$expected" != "$actual" ]]; then
  echo "clang-tidy findings differ from the fixtures' expectations"
  diff <(printf '%s\n' "$expected") <(printf '%s\n' "$actual") || true
  printf '%s\n' "$out"
  exit 1
fi
echo "clang-tidy module: $(printf '%s\n' "$actual" | grep -c .) findings, as expected, in ${#files[@]} fixtures"
