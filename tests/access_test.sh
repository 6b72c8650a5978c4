#!/usr/bin/env bash
# Access checks against the real control plane. The daemon, running as the operator's own ServiceAccount from
# `flinkop install`, leaves a `flink` ServiceAccount, Role and RoleBinding a user made by hand exactly as they are,
# asks the API server (LocalSubjectAccessReviews) whether they grant what the policy's Role does, warns with a log
# line and an Event when not, and checks again only when the user changes them. `flinkop audit` shows what the
# operator's and the managed ServiceAccounts may do next to what rbac.lua intends, and flags EXTRA and WILDCARD
# grants made by hand. Run under tests/cluster/with-cluster; needs build/asan/flinkop (make does it).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${FLINKOP_BIN:-$repo/build/asan/flinkop}
ref=$repo/../shared/reference/flink-kubernetes-operator
tmp=$(mktemp -d)
run=acc$$
op=$run-op user=$run-user managed=$run-managed sa_only=$run-sa
log=$tmp/daemon.log
# $op goes last: its ServiceAccount is the daemon's identity, as is the ClusterRole.
suite_namespaces=("$user" "$managed" "$sa_only")

finish() {
	namespaces_end
	[[ -n ${daemon_pid:-} ]] && kill -9 "$daemon_pid" 2>/dev/null
	k delete clusterrolebinding flink-operator-role-binding >/dev/null 2>&1
	k delete clusterrole flink-operator >/dev/null 2>&1
	suite_finish access "$op"
}
# However the script ends, its daemon does not outlive it.
trap '[[ -n ${daemon_pid:-} ]] && kill -9 "$daemon_pid" 2>/dev/null' EXIT
# shellcheck source=cluster_lib.sh
. "$repo/tests/cluster_lib.sh"
# The resourceVersion of the user's object, and our label should it have one.
rv_of() {
	k -n "$user" get "$1" "$2" -o jsonpath='{.metadata.resourceVersion}{.metadata.labels.app\.kubernetes\.io/managed-by}'
}
metric() { metrics_at "$port" | awk -v m="$1" '$1 == m { print $2 }'; }

[[ -n ${KUBECONFIG:-} && -n ${KUBECTL:-} ]] || { not_ok "environment" "run under tests/cluster/with-cluster"; finish; }
[[ -x $bin ]] || { not_ok "environment" "$bin is not built"; finish; }

# The operator as installed: CRDs, its namespace, ServiceAccount, ClusterRole and binding. Server-side, as the other
# suites apply the CRDs, so that no suite finds another field manager's claim on them.
if "$bin" install --script-dir "$repo" --operator-namespace "$op" |
	k apply --server-side --force-conflicts -f - >"$tmp/install.log" 2>&1 &&
	k wait --for condition=established crd --all --timeout=60s >/dev/null &&
	"$repo/tests/cluster/sa-kubeconfig" "$op" flink-operator "$tmp/operator.kubeconfig" 1h; then
	ok "flinkop install applies and the operator's ServiceAccount gets a token"
else
	not_ok "flinkop install applies and the operator's ServiceAccount gets a token" "$(tail -n 3 "$tmp/install.log")"
	finish
fi

# The user's own job identity, made by hand as upstream's docs say, but with `create` on pods left out.
job_role() {
	cat <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: flink, namespace: $user}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, $1update, patch, delete]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [apps]
  resources: [deployments, deployments/finalizers]
  verbs: [get, list, watch, create, update, patch, delete]
EOF
}
for ns in "$user" "$managed" "$sa_only"; do k create namespace "$ns" >/dev/null; done
k -n "$user" create serviceaccount flink >/dev/null
# Only the ServiceAccount made by hand: the operator's own Role and RoleBinding complete it.
k -n "$sa_only" create serviceaccount flink >/dev/null
job_role "" | k apply -f - >/dev/null
k -n "$user" create rolebinding flink-role-binding --role=flink --serviceaccount="$user:flink" >/dev/null
before="$(rv_of serviceaccount flink) $(rv_of role flink) $(rv_of rolebinding flink-role-binding)"
k -n "$user" apply -f "$ref/examples/basic.yaml" >/dev/null
k -n "$managed" apply -f "$ref/examples/basic.yaml" >/dev/null
k -n "$sa_only" apply -f "$ref/examples/basic.yaml" >/dev/null

daemon_start "$log" --kubeconfig "$tmp/operator.kubeconfig" --script-dir "$repo" --operator-namespace "$op" \
	--resync-interval 2 --log-level debug || { not_ok "the daemon starts" "$(tail -n 5 "$log")"; finish; }

lacks='level=warn msg="user-made RBAC lacks permissions the policy grants, left as is" object='"$user"'/flink'
if eventually 30 grep -q "$lacks.* missing=\"create pods\"" "$log"; then
	ok "the daemon warns that the user-made Role lacks create on pods, and nothing else"
else
	not_ok "the daemon warns that the user-made Role lacks create on pods, and nothing else" \
		"$(grep -m3 'RBAC\|conflict' "$log")"
fi
event() {
	k -n "$user" get events --field-selector reason=InsufficientRBAC,involvedObject.kind=Role,involvedObject.name=flink \
		-o jsonpath='{range .items[*]}{.type}: {.message}{"\n"}{end}'
}
warned() { event | grep -q "^Warning: ServiceAccount $user/flink lacks create pods"; }
if eventually 10 warned; then
	ok "a Warning Event on the user's Role says what it lacks"
else
	not_ok "a Warning Event on the user's Role says what it lacks" "events: $(event)"
fi
if eventually 10 k -n "$managed" get rolebinding flink-role-binding; then
	ok "a namespace without user-made RBAC still gets its flink objects"
else
	not_ok "a namespace without user-made RBAC still gets its flink objects"
fi

# Checked once our Role and RoleBinding have reached the authorizer, so no false alarm.
enough='level=info msg="user-made RBAC grants what the policy wants" object='
if eventually 20 grep -q "$enough$sa_only/flink" "$log" && ! grep -q "lacks.* object=$sa_only/" "$log"; then
	ok "a user-made ServiceAccount bound by the operator's own Role is found sufficient, without a warning"
else
	not_ok "a user-made ServiceAccount bound by the operator's own Role is found sufficient, without a warning" \
		"$(grep "object=$sa_only/" "$log" | grep -v level=debug | head -n 3)"
fi

# Converged: resyncs (2 s each) still find the conflicts, but they have not changed, so nothing is asked again.
read -r w1 w2 < <(writes_settled "$port")
checks=$(metric 'flinkop_access_checks_total{result="insufficient"}')
if [[ $w1 == "$w2" && $checks == 1 ]]; then
	ok "resyncs over unchanged user-made RBAC send no review (zero writes, $checks check)"
else
	not_ok "resyncs over unchanged user-made RBAC send no review" "writes $w1 -> $w2, insufficient checks: $checks"
fi
after="$(rv_of serviceaccount flink) $(rv_of role flink) $(rv_of rolebinding flink-role-binding)"
if [[ $after == "$before" ]]; then
	ok "the user's ServiceAccount, Role and RoleBinding keep their resourceVersions and stay unlabelled"
else
	not_ok "the user's ServiceAccount, Role and RoleBinding keep their resourceVersions and stay unlabelled" \
		"before '$before', after '$after'"
fi

# The user fixes their Role: the changed resourceVersion makes the daemon ask again, and now it is enough.
job_role "create, " | k apply -f - >/dev/null
if eventually 20 grep -q "$enough$user/flink" "$log"; then
	ok "after the user adds the verb, the daemon checks again and says the user-made RBAC is enough"
else
	not_ok "after the user adds the verb, the daemon checks again and says the user-made RBAC is enough" \
		"$(grep 'user-made' "$log" | tail -n 3)"
fi
missing=$(metric "flinkop_access_missing{namespace=\"$user\"}")
[[ $missing == 0 ]] && ok "flinkop_access_missing for the namespace is back to 0" ||
	not_ok "flinkop_access_missing for the namespace is back to 0" "value '$missing'"
if [[ "$(rv_of serviceaccount flink) $(rv_of rolebinding flink-role-binding)" == "${before%% *} ${before##* }" ]]; then
	ok "the user's ServiceAccount and RoleBinding are still untouched"
else
	not_ok "the user's ServiceAccount and RoleBinding are still untouched"
fi

# The operator and the managed namespaces are as rbac.lua intends: every intended tuple allowed, nothing more.
audit() { "$bin" audit --script-dir "$repo" --operator-namespace "$op" >"$tmp/audit.out" 2>"$tmp/audit.err"; }
# table ACCOUNT NAMESPACE: the rows of that account's table in that namespace (one awk, no pipe to break early).
table() {
	awk -v hdr="ServiceAccount $1 in namespace $2 " 'index($0, hdr) == 1 { on = 1; next } on && /^$/ { exit } on' \
		"$tmp/audit.out"
}
# row ACCOUNT NAMESPACE RESOURCE VERB: the row of that tuple, e.g. "secrets  get  no  yes  EXTRA".
row() { table "$1" "$2" | awk -v r="$3" -v v="$4" '$1 == r && $2 == v { $1 = $1; print }'; }
managed_made() { k -n "$op" get role flink && k -n "$managed" get role flink; }
eventually 20 managed_made
audit
rc=$?
accounts=$(grep -c '^ServiceAccount ' "$tmp/audit.out")
flagged=$(grep -cE ' (MISSING|EXTRA|WILDCARD)$' "$tmp/audit.out")
if [[ $rc -eq 0 && $flagged -eq 0 && $accounts -ge 3 ]] &&
	grep -q "^ServiceAccount $op/flink-operator cluster-wide (SubjectAccessReview)$" "$tmp/audit.out" &&
	[[ $(row "$managed/flink" "$managed" pods create) == "pods create yes yes" ]]; then
	ok "flinkop audit of an install as intended exits 0 with every intended tuple allowed ($accounts tables)"
else
	not_ok "flinkop audit of an install as intended exits 0 with every intended tuple allowed" \
		"exit $rc, $flagged flagged: $(grep -m3 -E ' (MISSING|EXTRA|WILDCARD)$' "$tmp/audit.out") $(cat "$tmp/audit.err")"
fi
intended_rows=$(table "$managed/flink" "$managed" |
	awk '$3 == "yes" && $4 == "yes" && NF == 4 { n++ } END { print n + 0 }')
[[ $intended_rows -eq 28 ]] && ok "the managed flink account's 28 intended tuples are all allowed" ||
	not_ok "the managed flink account's 28 intended tuples are all allowed" "$intended_rows rows intended and allowed"

# A hand-made grant of secrets to the managed flink account: allowed, not intended.
k -n "$managed" create role read-secrets --verb=get --resource=secrets >/dev/null
k -n "$managed" create rolebinding read-secrets --role=read-secrets --serviceaccount="$managed:flink" >/dev/null
audit
rc=$?
if [[ $rc -eq 1 && $(row "$managed/flink" "$managed" secrets get) == "secrets get no yes EXTRA" ]]; then
	ok "a hand-made secrets get for the flink account: audit exits 1 and flags it EXTRA"
else
	not_ok "a hand-made secrets get for the flink account: audit exits 1 and flags it EXTRA" \
		"exit $rc: $(row "$managed/flink" "$managed" secrets get)"
fi

# A hand-made Role with "*" verbs bound to it.
k -n "$managed" create role everything-on-configmaps --verb='*' --resource=configmaps >/dev/null
k -n "$managed" create rolebinding everything-on-configmaps --role=everything-on-configmaps \
	--serviceaccount="$managed:flink" >/dev/null
audit
rc=$?
if [[ $rc -eq 1 && $(row "$managed/flink" "$managed" configmaps '*') == "configmaps * no yes EXTRA WILDCARD" ]] &&
	grep -q "^WILDCARD: Role $managed/everything-on-configmaps via RoleBinding $managed/everything-on-configmaps$" \
		"$tmp/audit.out"; then
	ok "a hand-made Role with * verbs bound to the flink account is flagged WILDCARD"
else
	not_ok "a hand-made Role with * verbs bound to the flink account is flagged WILDCARD" \
		"exit $rc: $(row "$managed/flink" "$managed" configmaps '*'); $(grep '^WILDCARD' "$tmp/audit.out")"
fi

namespaces_end
kill -TERM "$daemon_pid"
wait "$daemon_pid"
rc=$?
daemon_pid=
if [[ $rc -eq 0 ]] && ! grep -q Sanitizer "$log"; then
	ok "the daemon stops with status 0, no sanitizer report"
else
	not_ok "the daemon stops with status 0, no sanitizer report" "status $rc: $(grep -A3 -m1 Sanitizer "$log")"
fi
finish
