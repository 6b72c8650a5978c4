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

# The RBAC guardrails: a Role beyond the ceiling, a Role elsewhere, a ClusterRole or a binding to a role the ceiling
# does not let the operator bind. Each names the policy line that made the refused part (found with grep in the
# edited copy, so the test pins the exact line).

# expect_check NAME PATTERN -- ARGS...: `flinkop check ARGS` exits 1 and reports a failed guardrail matching PATTERN.
expect_check() {
    name=$1 pattern=$2
    shift 3
    (cd "$work" && "$BIN" check "$@" >out 2>err)
    rc=$?
    if [ "$rc" -ne 1 ]; then
        not_ok "$name" "exit status $rc, expected 1: $(cat "$work/out" "$work/err" | tail -n 5)"
    elif ! grep -Eq -- "^not ok - RBAC guardrails: $pattern" "$work/out"; then
        not_ok "$name" "no failed guardrail matching /$pattern/: $(grep -e 'RBAC guardrails' "$work/out")"
    elif grep -q "Sanitizer" "$work/err"; then
        not_ok "$name" "$(cat "$work/err")"
    else
        ok "$name"
    fi
}

printf '%s\n' '- apiGroups: [""]' '  resources: [pods, configmaps]' '  verbs: [get, list, watch, create, update, patch, delete]' \
    '- apiGroups: [apps]' '  resources: [deployments, deployments/finalizers]' \
    '  verbs: [get, list, watch, create, update, patch, delete]' >"$work/job-ceiling.yaml"

# refused_at NAME SED FIND PATTERN [ARGS...]: the dry-run of basic.yaml with a copy of rbac.lua edited by the sed
# script SED refuses it with "rbac.lua:N: namespace(default): refused: PATTERN", N the first line FIND matches in
# the copy. Leaves the copy's directory in $dir and the line in $n.
refused_at() {
    name=$1 edit=$2 find=$3 pattern=$4
    shift 4
    dir=$(sed "$edit" "$ROOT/rbac.lua" | policy_with "$(printf '%s' "$name" | tr -c 'a-z' '-')" rbac.lua)
    n=$(grep -n -- "$find" "$dir/rbac.lua" | head -n 1 | cut -d: -f1)
    expect "$name" 1 "^rbac\.lua:$n: namespace\(default\): refused: $pattern" -- \
        --dry-run --script-dir "$dir" "$@" -f basic.yaml
}

refused_at "a Role granting secrets beyond a --rbac-ceiling file is refused with its rule and line" \
    's/{ "pods", "configmaps" }, ALL_VERBS/{ "pods", "configmaps", "secrets" }, ALL_VERBS/' '"secrets" }, ALL_VERBS' \
    'Role default/flink rule 1: verb "get" on "secrets" \(group ""\) is beyond the RBAC ceiling \(--rbac-ceiling job-ceiling\.yaml\)' \
    --rbac-ceiling job-ceiling.yaml
expect_check "check refuses the same policy under the same ceiling" \
    "rbac\.lua:$n: namespace\(default\): refused: Role default/flink rule 1: verb \"get\" on \"secrets\"" -- \
    --script-dir "$dir" --rbac-ceiling job-ceiling.yaml

refused_at "a Role with a * verb beyond the operator's own rules is refused with its rule and line" \
    's/{ "deployments", "deployments\/finalizers" }, ALL_VERBS/{ "deployments", "deployments\/finalizers" }, { "*" }/' \
    '"deployments/finalizers" }, { "\*" }' \
    "Role default/flink rule 2: verb \"\*\" on \"deployments\" \(group \"apps\"\) is beyond the RBAC ceiling \(the operator's own rules"
expect_check "check refuses a * verb beyond the operator's own rules" \
    "rbac\.lua:$n: namespace\(default\): refused: Role default/flink rule 2: verb \"\*\"" -- --script-dir "$dir"

refused_at "a Role with * resources is refused with its rule and line" \
    's/{ "pods", "configmaps" }, ALL_VERBS/{ "*" }, ALL_VERBS/' '{ "\*" }, ALL_VERBS' \
    'Role default/flink rule 1: verb "get" on "\*" \(group ""\)'

refused_at "a Role in another namespace is refused with its line" \
    's/role("Role", M.JOB_ROLE, namespace,/role("Role", M.JOB_ROLE, "kube-system",/' 'M.JOB_ROLE, "kube-system"' \
    'Role kube-system/flink is in namespace kube-system'
expect_check "check refuses a Role in another namespace" \
    "rbac\.lua:$n: namespace\(default\): refused: Role kube-system/flink" -- --script-dir "$dir"

refused_at "a ClusterRole from namespace() is refused with its line" \
    's/role("Role", M.JOB_ROLE, namespace,/role("ClusterRole", M.JOB_ROLE, nil,/' 'role("ClusterRole", M.JOB_ROLE, nil' \
    'ClusterRole flink is cluster-scoped'

dir=$(sed 's/{ "deployments", "deployments\/finalizers", "replicasets" }/{ "deployments", "replicasets" }/' "$ROOT/rbac.lua" |
    policy_with operator-lacks rbac.lua)
n=$(grep -n -- '"deployments", "deployments/finalizers" }, ALL_VERBS' "$dir/rbac.lua" | cut -d: -f1)
expect_check "check refuses a job Role that the operator's own ClusterRole does not hold" \
    "rbac\.lua:$n: namespace\(default\): refused: Role default/flink rule 2: verb \"get\" on \"deployments/finalizers\" \(group \"apps\"\) is beyond the RBAC ceiling \(the operator's own rules" \
    -- --script-dir "$dir"

dir=$(sed 's/^return M$//' "$ROOT/rbac.lua" | { cat; printf '%s\n' \
    'local inner = M.namespace' \
    'function M.namespace(ns, ctx)' \
    '  local out = inner(ns, ctx)' \
    '  if #out > 0 then' \
    '    out[#out + 1] = { apiVersion = "rbac.authorization.k8s.io/v1", kind = "RoleBinding",' \
    '      metadata = { name = "team-view" }, subjects = { { kind = "Group", name = "team" } },' \
    '      roleRef = { apiGroup = "rbac.authorization.k8s.io", kind = "ClusterRole", name = "view" } }' \
    '  end' \
    '  return out' \
    'end' 'return M'; } | policy_with bind-view rbac.lua)
expect "a RoleBinding to the view ClusterRole needs bind on it in the ceiling" 1 \
    'namespace\(default\): refused: RoleBinding default/team-view binds ClusterRole view, .*needs verb "bind" on "clusterroles" named "view"' -- \
    --dry-run --script-dir "$dir" -f basic.yaml

printf 'rules: not-a-list\n' >"$work/bad-ceiling.yaml"
expect "a --rbac-ceiling file that is not a rule list is named" 2 'bad-ceiling\.yaml: expected a list of PolicyRules' -- \
    --dry-run --script-dir "$ROOT" --rbac-ceiling bad-ceiling.yaml -f basic.yaml

expect "install refuses --rbac-ceiling rather than ignore it" 2 '--rbac-ceiling applies to .*not to install' -- \
    install --script-dir "$ROOT" --rbac-ceiling bad-ceiling.yaml

expect "a missing input file is named" 2 'no-such\.yaml' -- --dry-run --script-dir "$ROOT" -f no-such.yaml
expect "an unknown option is a usage error" 2 'usage' -- --dry-run --no-such-option
finish bad-input
