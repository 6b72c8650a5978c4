#!/bin/sh
# Bad input gets a clear error that names what and where, a non-zero exit, and nothing on standard output (so
# `| kubectl apply -f -` applies nothing half-made). Each case changes one thing in a good input or policy.
set -u
. "$(dirname "$0")/lib.sh"
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# expect NAME STATUS PATTERN -- ARGS...: runs flinkop ARGS in $work, checks the exit status, that stderr matches
# the extended regex PATTERN, and that nothing was printed.
expect() {
    name=$1 want=$2 pattern=$3
    shift 4
    (cd "$work" && "$BIN" "$@" >out 2>err)
    rc=$?
    if [ "$rc" -ne "$want" ]; then
        not_ok "$name" "exit status $rc, expected $want; stderr: $(cat "$work/err")"
    elif ! grep -Eq -- "$pattern" "$work/err"; then
        not_ok "$name" "stderr does not match /$pattern/: $(cat "$work/err")"
    elif [ -s "$work/out" ]; then
        not_ok "$name" "printed objects although it failed: $(head -n 5 "$work/out")"
    elif grep -q "Sanitizer" "$work/err"; then
        not_ok "$name" "$(cat "$work/err")"
    else
        ok "$name"
    fi
}

# A copy of the default policies with one file replaced by stdin.
policy_with() {
    dir="$work/policy-$1"
    rm -rf "$dir" && mkdir -p "$dir/scripts"
    cp "$ROOT"/rbac.lua "$ROOT"/reconcile.lua "$dir/" && cp "$ROOT"/scripts/*.lua "$dir/scripts/"
    cat >"$dir/$2"
    echo "$dir"
}

cp "$REF/examples/basic.yaml" "$work/basic.yaml"

head -c 300 "$work/basic.yaml" >"$work/truncated.yaml"
printf 'spec:\n  image: [unclosed\n' >>"$work/truncated.yaml"
expect "truncated YAML names file, line and column" 2 '^truncated\.yaml:[0-9]+:[0-9]+: ' -- \
    --dry-run --script-dir "$ROOT" -f truncated.yaml

sed '/serviceAccount:/d' "$work/basic.yaml" >"$work/no-sa.yaml"
expect "FlinkDeployment without serviceAccount is refused" 1 '^no-sa\.yaml:[0-9]+: FlinkDeployment default/basic-example: .*spec\.serviceAccount' -- \
    --dry-run --script-dir "$ROOT" -f no-sa.yaml

long=basic-example-with-a-name-far-too-long-for-flk
sed "s/name: basic-example/name: $long/" "$work/basic.yaml" >"$work/long-name.yaml"
expect "a 46-character FlinkDeployment name is refused" 1 "^long-name\.yaml:[0-9]+: .*metadata\.name.*46" -- \
    --dry-run --script-dir "$ROOT" -f long-name.yaml

dir=$(printf 'local M = {}\nfunction M.operator(ctx)\n  return {\nend\nreturn M\n' | policy_with syntax rbac.lua)
expect "a policy with a syntax error is refused with file:line" 2 'rbac\.lua:[0-9]+:' -- \
    --dry-run --script-dir "$dir" -f basic.yaml

dir=$(printf 'return 42\n' | policy_with non-table reconcile.lua)
expect "a policy file that returns a non-table is refused" 2 'reconcile\.lua.*must return a table' -- \
    --dry-run --script-dir "$dir" -f basic.yaml

dir=$(cat "$ROOT/rbac.lua" | sed 's/^return M$//' | { cat; printf '%s\n' \
    'local inner = M.namespace' \
    'function M.namespace(ns, ctx)' \
    '  local out = inner(ns, ctx)' \
    '  if out[1] then out[1].metadata.namespace = "kube-system" end' \
    '  return out' \
    'end' 'return M'; } | policy_with other-ns rbac.lua)
expect "a policy that emits an object into another namespace is refused" 1 'namespace\(default\).*kube-system' -- \
    --dry-run --script-dir "$dir" -f basic.yaml

dir=$(printf 'local M = {}\nfunction M.reconcile(r, o, ctx) return "objects" end\nreturn M\n' | policy_with bad-result reconcile.lua)
expect "a reconcile that returns a string instead of a table is refused" 1 'reconcile\(FlinkDeployment/default/basic-example\).*must return a table' -- \
    --dry-run --script-dir "$dir" -f basic.yaml

dir=$(printf 'local M = {}\nfunction M.reconcile(r, o, ctx) while true do end end\nreturn M\n' | policy_with loop reconcile.lua)
expect "a policy that loops forever stops at the instruction budget" 1 'instruction budget' -- \
    --dry-run --script-dir "$dir" --policy-instructions 1000000 -f basic.yaml

expect "a missing input file is named" 2 'no-such\.yaml' -- --dry-run --script-dir "$ROOT" -f no-such.yaml
expect "an unknown option is a usage error" 2 'usage' -- --dry-run --no-such-option
finish bad-input
