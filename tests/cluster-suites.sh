#!/bin/sh
# Runs each suite given against the one cluster with-cluster started, and sums their closing lines.
set -u
passed=0 failed=0 broken=""
for suite in "$@"; do
    echo "== $suite"
    out=$(mktemp)
    "$suite" >"$out" 2>&1
    rc=$?
    cat "$out"
    line=$(grep -E '^([a-z-]+: )?[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
    p=$(printf '%s' "$line" | sed -n 's/^\(.*: \)\{0,1\}\([0-9]*\) passed.*/\2/p')
    f=$(printf '%s' "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
    if [ -z "$line" ] || { [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; }; then
        broken="$broken $suite"
        failed=$((failed + 1))
    else
        passed=$((passed + p))
        failed=$((failed + f))
    fi
    rm -f "$out"
done
[ -n "$broken" ] && echo "cluster: failed without a counted failure (exit status or no closing line):$broken"
echo "cluster: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
