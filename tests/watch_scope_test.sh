#!/usr/bin/env bash
# A live watch list against the real control plane, acting as the operator's ServiceAccount in namespaced scope:
# the policy ConfigMap's `watch-namespaces` key changes the watched namespaces without a restart. A namespace the
# operator may already access gets its objects within two seconds; one it may not is reported with the install
# objects to apply, and converges once they are applied; a namespace leaving the list loses the objects flinkop
# made there, but not while a FlinkDeployment still runs in it.
# Run under tests/cluster/with-cluster; needs build/asan/flinkop (make does it).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${FLINKOP_BIN:-$repo/build/asan/flinkop}
ref=$repo/../shared/reference/flink-kubernetes-operator
tmp=$(mktemp -d)
run=ws$$
op=$run-op w1=$run-w1 w2=$run-w2 w3=$run-w3 w4=$run-w4

finish() {
	[[ -n ${daemon_pid:-} ]] && kill -9 "$daemon_pid" 2>/dev/null
	k delete namespace "$op" "$w1" "$w2" "$w3" "$w4" --wait=false >/dev/null 2>&1
	suite_end watch-scope
}
# shellcheck source=cluster_lib.sh
. "$repo/tests/cluster_lib.sh"
has_port() { [[ -n $(probe_port_in "$tmp/daemon.log") ]]; }
install() { "$bin" install --script-dir "$repo" --operator-namespace "$op" --watch-namespaces "$1" "${@:2}"; }
watch_list() {
	k -n "$op" patch configmap flinkop-policy --type merge -p "{\"data\":{\"watch-namespaces\":\"$1\"}}" >/dev/null
}
has_role() { k -n "$1" get role flink >/dev/null 2>&1; }
no_role() { ! k -n "$1" get role flink >/dev/null 2>&1; }

[[ -n ${KUBECONFIG:-} && -n ${KUBECTL:-} ]] || { not_ok "environment" "run under tests/cluster/with-cluster"; finish; }
[[ -x $bin ]] || { not_ok "environment" "$bin is not built"; finish; }
for ns in "$w1" "$w2" "$w3" "$w4"; do k create namespace "$ns" >/dev/null; done
# The operator may access w1, w2 and w3; it watches w1 and w2.
install "$w1,$w2,$w3" | k apply --server-side -f - >/dev/null || { not_ok "the namespaced install applies"; finish; }
"$repo/tests/cluster/sa-kubeconfig" "$op" flink-operator "$tmp/operator.kubeconfig" >/dev/null
k -n "$w1" apply -f "$ref/examples/basic.yaml" >/dev/null
"$bin" run --kubeconfig "$tmp/operator.kubeconfig" --operator-namespace "$op" --watch-namespaces "$w1,$w2" \
	--probe-address 127.0.0.1:0 --resync-interval 2 >"$tmp/daemon.log" 2>&1 &
daemon_pid=$!
eventually 10 has_port || { not_ok "the daemon starts" "$(tail -n 3 "$tmp/daemon.log")"; finish; }
if eventually 20 has_role "$w1" && eventually 10 has_role "$w2" && no_role "$w3"; then
	ok "watching $w1,$w2 as the operator ServiceAccount: both get their flink RBAC, $w3 nothing"
else
	not_ok "watching $w1,$w2: both get their flink RBAC" "$(grep -m3 'level=error\|level=warn' "$tmp/daemon.log")"
fi

watch_list "$w1,$w2,$w3"
t0=$(date +%s.%N)
if eventually 10 has_role "$w3"; then
	took=$(echo "$(date +%s.%N) - $t0" | bc)
	(($(echo "$took <= 2.5" | bc))) && ok "$w3 added to the ConfigMap's watch-namespaces gets its objects without a restart (${took}s)" ||
		not_ok "$w3 added to the watch list gets its objects within 2 s" "${took}s"
else
	not_ok "$w3 added to the watch list gets its objects" "$(grep -m3 'watch list\|level=error' "$tmp/daemon.log")"
fi

# w4: the install does not cover it yet. The daemon says what to apply, and picks it up once applied.
watch_list "$w1,$w2,$w3,$w4"
told() {
	grep -q "the operator may not watch namespace $w4: apply Role $w4/flink-operator, RoleBinding $w4/flink-operator-role-binding" \
		"$tmp/daemon.log"
}
if eventually 15 told && k -n "$op" get events --field-selector involvedObject.name=flinkop-policy,reason=NamespaceForbidden \
	-o name | grep -q .; then
	ok "a namespace the operator may not watch is reported with the install objects to apply (log and Event)"
else
	not_ok "a namespace the operator may not watch is reported" "$(grep -m2 "$w4" "$tmp/daemon.log")"
fi
install "$w1,$w2,$w3,$w4" --only operator | k apply -f - >/dev/null
t0=$SECONDS
if eventually 45 has_role "$w4"; then
	ok "once the named install objects are applied, $w4 converges ($((SECONDS - t0))s; forbidden namespaces retry with backoff up to 30 s)"
else
	not_ok "once the install objects are applied, $w4 converges"
fi

# w2 leaves and runs no Flink: its objects go. w1 leaves while basic-example runs there: they stay until it is gone.
watch_list "$w3,$w4"
if eventually 15 no_role "$w2" && eventually 10 grep -q "msg=\"namespace drained; no longer watched\" namespace=$w2" "$tmp/daemon.log"; then
	ok "a namespace leaving the watch list loses the objects flinkop made there, then is no longer watched"
else
	not_ok "a namespace leaving the watch list loses the objects flinkop made there" "$(grep "$w2" "$tmp/daemon.log" | tail -n 4)"
fi
sleep 4
if has_role "$w1" >/dev/null 2>&1 && k -n "$w1" get serviceaccount flink >/dev/null 2>&1; then
	ok "a namespace leaving while a FlinkDeployment runs there keeps its flink identity"
else
	not_ok "a namespace leaving while a FlinkDeployment runs there keeps its flink identity"
fi
k -n "$w1" delete flinkdeployment basic-example >/dev/null
if eventually 20 no_role "$w1"; then
	ok "once that FlinkDeployment is gone, its flink objects are pruned"
else
	not_ok "once that FlinkDeployment is gone, its flink objects are pruned"
fi
if [[ $(grep -c 'msg="started"' "$tmp/daemon.log") == 1 ]] && kill -0 "$daemon_pid"; then
	ok "all of it without a restart (one daemon process throughout)"
else
	not_ok "all of it without a restart"
fi
kill -TERM "$daemon_pid" && wait "$daemon_pid"
rc=$?
daemon_pid=
((rc == 0)) && ok "SIGTERM: exit 0, no sanitizer report" || not_ok "SIGTERM: exit 0" "exit $rc: $(grep -m1 -A5 Sanitizer "$tmp/daemon.log")"
finish
