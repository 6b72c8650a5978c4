#!/bin/sh
# Golden tests: the dry-run of every top-level upstream example must print exactly the reviewed output in
# tests/golden/. GOLDEN_UPDATE=1 rewrites the expectations (review the diff before committing it).
set -u
. "$(dirname "$0")/lib.sh"
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
examples=$(top_level_examples) || exit 1

for ex in $examples; do
    name=$(basename "$ex" .yaml)
    actual=$(mktemp)
    # Run from the examples folder so messages name the file as a user would type it.
    (cd "$REF/examples" && "$BIN" --dry-run --script-dir "$ROOT" -f "$name.yaml" >"$actual.out" 2>"$actual.err")
    rc=$?
    { cat "$actual.out"; echo "# stderr:"; sed 's/^/# /' "$actual.err"; echo "# exit status: $rc"; } >"$actual"
    expected="$ROOT/tests/golden/$name.yaml"
    if [ "$rc" -gt 1 ]; then
        not_ok "dry-run of $name.yaml" "exit status $rc: $(cat "$actual.err")"
    elif [ "${GOLDEN_UPDATE:-}" = 1 ]; then
        cp "$actual" "$expected"
        ok "dry-run of $name.yaml (expectation rewritten)"
    elif [ ! -f "$expected" ]; then
        not_ok "dry-run of $name.yaml" "no expectation in tests/golden/$name.yaml (run with GOLDEN_UPDATE=1 and review)"
    elif diff -u "$expected" "$actual" >"$actual.diff"; then
        ok "dry-run of $name.yaml matches tests/golden/$name.yaml"
    else
        not_ok "dry-run of $name.yaml differs from tests/golden/$name.yaml" "$(head -n 40 "$actual.diff")"
    fi
    rm -f "$actual" "$actual.out" "$actual.err" "$actual.diff"
done
finish golden
