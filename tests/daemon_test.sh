#!/usr/bin/env bash
# The daemon against the real control plane: `flinkop run` creates a FlinkDeployment's JobManager objects and its
# namespace's `flink` RBAC with no kubectl by hand, writes status, makes no write on a converged resync, puts back
# what is deleted, leaves alone what it does not own, lets namespaces terminate, and stops cleanly on SIGTERM.
# Run under tests/cluster/with-cluster; needs build/asan/flinkop (make does it).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${FLINKOP_BIN:-$repo/build/asan/flinkop}
ref=$repo/../shared/reference/flink-kubernetes-operator
tmp=$(mktemp -d)
run=d$$
log=$tmp/daemon.log
suite_namespaces=("$run-a" "$run-b" "$run-label" "$run-all")

finish() { suite_finish daemon; }
# shellcheck source=cluster_lib.sh
. "$repo/tests/cluster_lib.sh"
metric() { metrics_at "$port"; }
label_of() { k get "$1" "$2" -n "$3" -o "jsonpath={.metadata.labels.app\.kubernetes\.io/managed-by}"; }

[[ -n ${KUBECONFIG:-} && -n ${KUBECTL:-} ]] || { not_ok "environment" "run under tests/cluster/with-cluster"; finish; }
[[ -x $bin ]] || { not_ok "environment" "$bin is not built"; finish; }

k apply --server-side -f "$ref/helm/flink-kubernetes-operator/crds/" >/dev/null &&
	k wait --for condition=established crd --all --timeout=60s >/dev/null || { not_ok "CRDs installed"; finish; }
k create namespace "$run-a" >/dev/null
k create namespace "$run-b" >/dev/null
k create namespace "$run-label" >/dev/null
# Every top-level upstream example, so "converged means no writes" holds for all their shapes (session clusters,
# standalone mode, ingresses, pod templates), not just basic.yaml's.
k create namespace "$run-all" >/dev/null
for f in "$ref"/examples/*.yaml; do k -n "$run-all" apply -f "$f" >/dev/null 2>&1; done
# A user's own `flink` ServiceAccount, made by hand as the upstream docs say: ours to leave alone.
k -n "$run-b" create serviceaccount flink >/dev/null
sa_rv=$(k -n "$run-b" get serviceaccount flink -o jsonpath='{.metadata.resourceVersion}')
k -n "$run-a" apply -f "$ref/examples/basic.yaml" >/dev/null

daemon_start "$log" --kubeconfig "$KUBECONFIG" --script-dir "$repo" --operator-namespace "$run-op" \
	--resync-interval 2 --log-level debug || { not_ok "the daemon starts" "$(tail -n 5 "$log")"; finish; }

if eventually 30 k -n "$run-a" get deployment basic-example; then
	ok "a FlinkDeployment gets its JobManager Deployment"
else
	not_ok "a FlinkDeployment gets its JobManager Deployment" "$(tail -n 5 "$log")"
fi
missing=""
for o in service/basic-example service/basic-example-rest configmap/flink-config-basic-example \
	configmap/pod-template-basic-example; do
	eventually 10 k -n "$run-a" get "$o" || missing="$missing $o"
done
[[ -z $missing ]] && ok "the Services and ConfigMaps of the JobManager exist" ||
	not_ok "the Services and ConfigMaps of the JobManager exist" "missing:$missing"
missing=""
for o in serviceaccount/flink role/flink rolebinding/flink-role-binding; do
	eventually 10 k -n "$run-a" get "$o" || missing="$missing $o"
done
[[ -z $missing ]] && ok "the namespace gets the flink ServiceAccount, Role and RoleBinding" ||
	not_ok "the namespace gets the flink ServiceAccount, Role and RoleBinding" "missing:$missing"
if [[ $(label_of role flink "$run-a") == flinkop ]]; then
	ok "made objects carry the managed-by label"
else
	not_ok "made objects carry the managed-by label"
fi
if k auth can-i create pods --as="system:serviceaccount:$run-a:flink" -n "$run-a" >/dev/null 2>&1; then
	ok "the flink ServiceAccount may create TaskManager pods"
else
	not_ok "the flink ServiceAccount may create TaskManager pods"
fi
owner=$(k -n "$run-a" get deployment basic-example -o jsonpath='{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}')
[[ $owner == FlinkDeployment/basic-example ]] && ok "the Deployment is owned by its FlinkDeployment" ||
	not_ok "the Deployment is owned by its FlinkDeployment" "ownerReferences: $owner"
state() { k -n "$run-a" get flinkdeployment basic-example -o jsonpath='{.status.lifecycleState}/{.status.observedGeneration}'; }
status_written() { [[ $(state) == */1 && $(state) != /* ]]; }
if eventually 10 status_written; then
	ok "status is written with lifecycleState and observedGeneration ($(state))"
else
	not_ok "status is written with lifecycleState and observedGeneration"
fi

# Converged: two resyncs (2 s each) must not write anything.
read -r w1 w2 < <(writes_settled "$port")
if [[ $w1 == "$w2" && $w1 -gt 0 ]]; then
	ok "a converged resync makes zero API writes, every upstream example included ($w1 writes to converge)"
else
	not_ok "a converged resync makes zero API writes" "writes went from $w1 to $w2"
fi

k -n "$run-a" delete configmap flink-config-basic-example >/dev/null
if eventually 15 k -n "$run-a" get configmap flink-config-basic-example; then
	ok "an owned object deleted by hand comes back"
else
	not_ok "an owned object deleted by hand comes back"
fi

k -n "$run-b" apply -f "$ref/examples/basic.yaml" >/dev/null
if eventually 20 k -n "$run-b" get role flink && eventually 10 grep -q "conflict.*object=$run-b/flink" "$log"; then
	ok "a user's own flink ServiceAccount is reported as a conflict"
else
	not_ok "a user's own flink ServiceAccount is reported as a conflict" "$(grep -c conflict "$log") conflict lines"
fi
sleep 3
now_rv=$(k -n "$run-b" get serviceaccount flink -o jsonpath='{.metadata.resourceVersion}')
if [[ $now_rv == "$sa_rv" && -z $(label_of serviceaccount flink "$run-b") ]]; then
	ok "a user's own flink ServiceAccount is left exactly as it was"
else
	not_ok "a user's own flink ServiceAccount is left exactly as it was" "resourceVersion $sa_rv -> $now_rv"
fi

k label namespace "$run-label" flinkop.apache.org/flink-rbac=enabled >/dev/null
if eventually 15 k -n "$run-label" get serviceaccount flink; then
	ok "labelling a namespace in brings the flink ServiceAccount"
else
	not_ok "labelling a namespace in brings the flink ServiceAccount"
fi
k label namespace "$run-label" flinkop.apache.org/flink-rbac- >/dev/null
if eventually 15 bash -c "! '$KUBECTL' --kubeconfig '$KUBECONFIG' -n '$run-label' get serviceaccount flink"; then
	ok "labelling it out again prunes what the operator made"
else
	not_ok "labelling it out again prunes what the operator made"
fi

# A resource the policy refuses: one Warning Event, its count bumped on later resyncs, never a second Event.
sed -e 's/name: basic-example/name: no-account/' -e '/serviceAccount:/d' "$ref/examples/basic.yaml" |
	k -n "$run-a" apply -f - >/dev/null
events() {
	k -n "$run-a" get events --field-selector involvedObject.name=no-account,reason=ValidationError \
		-o jsonpath='{range .items[*]}{.count}{" "}{end}'
}
bumped() { local e; e=$(events); [[ $e =~ ^[0-9]+\ $ && ${e% } -ge 3 ]]; }
if eventually 20 bumped; then
	ok "a repeated Warning is one Event whose count grows (count $(events))"
else
	not_ok "a repeated Warning is one Event whose count grows" "counts: '$(events)'"
fi
k -n "$run-a" delete flinkdeployment no-account >/dev/null

k delete namespace "$run-b" --wait=false >/dev/null
if eventually 60 bash -c "! '$KUBECTL' --kubeconfig '$KUBECONFIG' get namespace '$run-b'"; then
	ok "a managed namespace deleted while the daemon runs finishes terminating"
else
	not_ok "a managed namespace deleted while the daemon runs finishes terminating"
fi

if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null && curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null &&
	metric | grep -q '^flinkop_reconciles_total{kind="FlinkDeployment",result="ok"}'; then
	ok "probes answer and /metrics counts reconciles"
else
	not_ok "probes answer and /metrics counts reconciles"
fi

kill -TERM "$daemon_pid"
start=$SECONDS
wait "$daemon_pid"
rc=$?
daemon_pid=
if [[ $rc -eq 0 && $((SECONDS - start)) -le 5 ]]; then
	ok "SIGTERM stops the daemon with status 0 within 5 s, no sanitizer report"
else
	not_ok "SIGTERM stops the daemon with status 0 within 5 s, no sanitizer report" \
		"status $rc after $((SECONDS - start)) s: $(grep -A3 -m1 Sanitizer "$log")"
fi
if grep -i "token" "$log" | grep -qi "bearer\|eyJ"; then
	not_ok "no bearer token in the logs"
else
	ok "no bearer token in the logs"
fi
# RBAC guardrails. A copy of the policies whose rbac.lua adds `secrets` to the flink Role, run with a --rbac-ceiling
# that holds the job rules only: the daemon refuses namespace() with the rule and the policy line, counts it, and
# the flink Role the first daemon made stays exactly as it was.
bad=$tmp/bad-policy
mkdir -p "$bad/scripts" && cp "$repo"/rbac.lua "$repo"/reconcile.lua "$bad/" && cp "$repo"/scripts/*.lua "$bad/scripts/"
sed -i 's/{ "pods", "configmaps" }, ALL_VERBS/{ "pods", "configmaps", "secrets" }, ALL_VERBS/' "$bad/rbac.lua"
line=$(grep -n '"secrets" }, ALL_VERBS' "$bad/rbac.lua" | cut -d: -f1)
printf '%s\n' '- apiGroups: [""]' '  resources: [pods, configmaps]' '  verbs: [get, list, watch, create, update, patch, delete]' \
	'- apiGroups: [apps]' '  resources: [deployments, deployments/finalizers]' \
	'  verbs: [get, list, watch, create, update, patch, delete]' >"$tmp/job-ceiling.yaml"
role_rv=$(k -n "$run-a" get role flink -o jsonpath='{.metadata.resourceVersion}')
log=$tmp/daemon-guardrails.log
refusal="rbac.lua:$line: namespace($run-a): refused: Role $run-a/flink rule 1: verb \\\"get\\\" on \\\"secrets\\\""
if daemon_start "$log" --kubeconfig "$KUBECONFIG" --script-dir "$bad" --rbac-ceiling "$tmp/job-ceiling.yaml" \
	--operator-namespace "$run-op" --resync-interval 2 --log-level debug && eventually 20 grep -qF -- "$refusal" "$log"; then
	ok "a Role granting secrets beyond the ceiling is refused with its rule and line (rbac.lua:$line)"
else
	not_ok "a Role granting secrets beyond the ceiling is refused with its rule and line" "$(grep -m3 'policy failed' "$log")"
fi
errors() { metric | awk '/^flinkop_policy_errors_total\{policy="rbac.lua"\}/ { print $NF }'; }
counted() { [[ $(errors) -ge 1 ]]; }
if eventually 10 counted; then
	ok "the refusal is counted in flinkop_policy_errors_total ($(errors))"
else
	not_ok "the refusal is counted in flinkop_policy_errors_total" "$(metric | grep policy_errors)"
fi
sleep 4.5 # two resyncs, each refused again
now_rv=$(k -n "$run-a" get role flink -o jsonpath='{.metadata.resourceVersion}')
rules=$(k -n "$run-a" get role flink -o jsonpath='{.rules[*].resources}')
if [[ $now_rv == "$role_rv" && $rules != *secrets* ]]; then
	ok "the namespace's flink Role is left as it was (resourceVersion $role_rv)"
else
	not_ok "the namespace's flink Role is left as it was" "resourceVersion $role_rv -> $now_rv, resources $rules"
fi
namespaces_end
kill -TERM "$daemon_pid"
wait "$daemon_pid"
daemon_pid=
finish
