#!/usr/bin/env bash
# `flinkop plan` against the real control plane: after the daemon converged two namespaces, a plan with the same
# policy is empty (exit 0); one with a changed policy prints exactly the expected per-field diff and deletions
# (exit 1); a broken policy exits 2; and no plan changes anything in the cluster (every resourceVersion stays).
# Run under tests/cluster/with-cluster; needs build/asan/flinkop (make does it).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${FLINKOP_BIN:-$repo/build/asan/flinkop}
tmp=$(mktemp -d)
run=pl$$
a=$run-a b=$run-b

finish() {
	[[ -n ${daemon_pid:-} ]] && kill -9 "$daemon_pid" 2>/dev/null
	k delete namespace "$a" "$b" --wait=false >/dev/null 2>&1
	suite_end plan
}
# shellcheck source=cluster_lib.sh
. "$repo/tests/cluster_lib.sh"
site() { rm -rf "$1" && mkdir -p "$1" && cp -r "$repo/rbac.lua" "$repo/reconcile.lua" "$repo/scripts" "$1/"; }
# plan DIR: flinkop plan over the two namespaces; output in $tmp/plan.out, exit status in $plan_rc.
plan() {
	"$bin" plan --kubeconfig "$KUBECONFIG" --script-dir "$1" --watch-namespaces "$a,$b" --operator-namespace "$a" \
		>"$tmp/plan.out" 2>"$tmp/plan.err"
	plan_rc=$?
}
versions() { k get serviceaccounts,roles,rolebindings,configmaps -n "$a" -o name -o jsonpath='{range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion}{"\n"}{end}'; k get serviceaccounts,roles,rolebindings -n "$b" -o jsonpath='{range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion}{"\n"}{end}'; }

[[ -n ${KUBECONFIG:-} && -n ${KUBECTL:-} ]] || { not_ok "environment" "run under tests/cluster/with-cluster"; finish; }
[[ -x $bin ]] || { not_ok "environment" "$bin is not built"; finish; }
k create namespace "$a" >/dev/null
k create namespace "$b" >/dev/null

"$bin" run --kubeconfig "$KUBECONFIG" --script-dir "$repo" --watch-namespaces "$a,$b" --operator-namespace "$a" \
	--probe-address 127.0.0.1:0 >"$tmp/daemon.log" 2>&1 &
daemon_pid=$!
both() { k -n "$a" get rolebinding flink-role-binding && k -n "$b" get rolebinding flink-role-binding; }
eventually 20 both || { not_ok "the daemon converges two namespaces" "$(tail -n 3 "$tmp/daemon.log")"; finish; }
kill -TERM "$daemon_pid" && wait "$daemon_pid"
daemon_pid=
before=$(versions)

plan "$repo"
if ((plan_rc == 0)) && [[ $(cat "$tmp/plan.out") == "plan: 0 to create, 0 to change, 0 to delete, 0 conflict(s)" ]]; then
	ok "the running policy plans no change (exit 0)"
else
	not_ok "the running policy plans no change" "exit $plan_rc: $(cat "$tmp/plan.out" "$tmp/plan.err" | head -n 5)"
fi

# A site change: every flink Role gets a label, and the job identity loses its RoleBinding.
site "$tmp/v2"
sed -i 's|  return { \["app.kubernetes.io/name"\] = "flink-kubernetes-operator", |  return { ["example.com/policy"] = "v2", ["app.kubernetes.io/name"] = "flink-kubernetes-operator", |' \
	"$tmp/v2/rbac.lua"
sed -i 's|^return M$|local every = M.namespace\nfunction M.namespace(ns, ctx)\n  local out = json.array()\n  for _, o in ipairs(every(ns, ctx)) do if o.kind ~= "RoleBinding" then out[#out + 1] = o end end\n  return out\nend\nM.tests = nil\nreturn M|' \
	"$tmp/v2/rbac.lua"
plan "$tmp/v2"
cat >"$tmp/expected" <<EOF
~ update Role $a/flink
    + metadata.labels.example.com/policy: "v2"
- delete RoleBinding $a/flink-role-binding
~ update ServiceAccount $a/flink
    + metadata.labels.example.com/policy: "v2"
~ update Role $b/flink
    + metadata.labels.example.com/policy: "v2"
- delete RoleBinding $b/flink-role-binding
~ update ServiceAccount $b/flink
    + metadata.labels.example.com/policy: "v2"
plan: 0 to create, 4 to change, 2 to delete, 0 conflict(s)
EOF
if ((plan_rc == 1)) && diff -u "$tmp/expected" "$tmp/plan.out" >"$tmp/diff"; then
	ok "a changed policy plans exactly the expected field changes and deletions (exit 1)"
else
	not_ok "a changed policy plans exactly the expected diff" "exit $plan_rc: $(cat "$tmp/diff" "$tmp/plan.err" | head -n 20)"
fi

# A policy that fails makes the plan incomplete: exit 2, never a partial "no change".
site "$tmp/bad"
sed -i 's|^function M.namespace(ns, ctx)$|&\n  error("site rule broken")|' "$tmp/bad/rbac.lua"
plan "$tmp/bad"
if ((plan_rc == 2)) && grep -q "INCOMPLETE" "$tmp/plan.out" && grep -q "rbac.lua:[0-9]*:.*site rule broken" "$tmp/plan.err"; then
	ok "a failing policy makes the plan incomplete: exit 2 and the error names rbac.lua:line"
else
	not_ok "a failing policy makes the plan incomplete" "exit $plan_rc: $(head -n 3 "$tmp/plan.err")"
fi

after=$(versions)
if [[ -n $before && $before == "$after" ]]; then
	ok "planning changed nothing: every resourceVersion is the same ($(echo "$before" | wc -l) objects)"
else
	not_ok "planning changed nothing" "$(diff <(echo "$before") <(echo "$after") | head -n 5)"
fi
finish
