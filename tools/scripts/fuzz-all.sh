#!/usr/bin/env bash
# Runs every fuzz target in the module for the given time each (default 10s).
set -euo pipefail
cd "$(dirname "$0")/../.."
t=${1:-10s}
fail=0
while IFS= read -r dir; do
  for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "== fuzz $dir $f ($t)"
    go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" "./$dir" || fail=1
  done
done < <(git ls-files '*_test.go' | xargs -n1 dirname | sort -u)
exit $fail
