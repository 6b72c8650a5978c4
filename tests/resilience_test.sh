#!/usr/bin/env bash
# The daemon keeps converging when the control plane misbehaves: it runs as the operator's own ServiceAccount with
# the namespaced Roles `flinkop --dry-run --install` generates, outlives a restart of etcd and kube-apiserver without
# creating anything twice, relists after a 410 (compacted resourceVersion) without losing an ADDED, MODIFIED or
# DELETED event, and keeps the namespaces it may still reach converging when one namespace's access is taken away.
# Run under tests/cluster/with-cluster (it restarts components of that cluster with tests/cluster/restart);
# needs build/asan/flinkop and etcdctl.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${FLINKOP_BIN:-$repo/build/asan/flinkop}
ref=$repo/../shared/reference/flink-kubernetes-operator
restart=$repo/tests/cluster/restart
passed=0 failed=0
tmp=$(mktemp -d)
run=r$$
a=$run-a b=$run-b c=$run-c op=$run-op
# The daemon's log stays for a post-mortem.
mkdir -p "$repo/build/resilience"
log=$repo/build/resilience/daemon.log
sa_kc=$tmp/operator.kubeconfig
# kube-apiserver does not exit on TERM while clients hold watches open (it waits for them, up to a minute): a short
# grace before restart sends KILL keeps the suite quick; the daemon sees its connections drop either way.
export FLINKOP_CLUSTER_GRACE=${FLINKOP_CLUSTER_GRACE:-3}
# The backoff cap of core/informer.c (BACKOFF_CAP, 30 s) with its largest jitter (x1.25).
backoff_cap=38

# shellcheck source=cluster_lib.sh
. "$repo/tests/cluster_lib.sh"
metric() { metrics_at "$port"; }
writes() { writes_at "$port"; }
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1${2:+: $2}"; }
check() { # check NAME WHY CMD...: ok when CMD succeeds, else not ok with WHY.
	local name=$1 why=$2
	shift 2
	if "$@"; then ok "$name"; else not_ok "$name" "$why"; fi
}
# $op goes last: its ServiceAccount is the daemon's identity.
suite_namespaces=("$a" "$b" "$c")
finish() {
	trap - EXIT INT TERM
	echo "# the daemon's log: $log"
	suite_finish resilience "$op"
}
trap finish EXIT INT TERM
as_operator() { "$KUBECTL" --kubeconfig "$sa_kc" "$@"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
# sum_metric PATTERN: the sum of the samples whose line matches PATTERN.
sum_metric() { metric | awk -v p="$1" '$0 ~ p && !/^#/ { n += $NF } END { print n + 0 }'; }
forbidden_requests() { sum_metric '^flinkop_api_requests_total.*code="403"'; }
restarts() { sum_metric "^flinkop_watch_restarts_total.*reason=\"$1\""; }
# settle: wait until two resyncs in a row make no write (converged); prints the write count.
settle() {
	local w0=-1 w1
	for _ in $(seq 30); do
		sleep "$resync"
		w1=$(writes)
		[[ $w1 == "$w0" ]] && break
		w0=$w1
	done
	echo "$w1"
}
# The objects the operator labels as its own in a namespace: kind/name uid creationTimestamp, sorted.
owned() {
	k get deployments,services,configmaps,serviceaccounts,roles,rolebindings -n "$1" \
		-l app.kubernetes.io/managed-by=flinkop -o jsonpath='{range .items[*]}{.kind}/{.metadata.name} {.metadata.uid} {.metadata.creationTimestamp}{"\n"}{end}' |
		sort
}
# The Events the daemon posted in a namespace: involved object, reason, message.
events() {
	k get events -n "$1" -o jsonpath='{range .items[?(@.source.component=="flinkop")]}{.involvedObject.kind}/{.involvedObject.name}|{.reason}|{.message}{"\n"}{end}' |
		sort
}
# new_fd NS NAME: the upstream basic example under another name.
new_fd() { sed "s/name: basic-example/name: $2/" "$ref/examples/basic.yaml" | k -n "$1" apply -f - >/dev/null; }
has() { k -n "$1" get "$2" >/dev/null 2>&1; }
# converges_new_work WHEN FD: a new FlinkDeployment FD in $b gets its Deployment and an owned ConfigMap deleted in $a
# comes back.
converges_new_work() {
	local what="$1 a new FlinkDeployment in $b gets its Deployment and a deleted object in $a comes back"
	local started=$EPOCHREALTIME
	new_fd "$b" "$2"
	k -n "$a" delete configmap flink-config-basic-example >/dev/null
	if eventually 60 has "$b" "deployment/$2" && eventually 30 has "$a" configmap/flink-config-basic-example; then
		ok "$what ($(since "$started") s)"
	else
		not_ok "$what" "$(tail -n 3 "$log")"
	fi
}
alive() { kill -0 "$daemon_pid" 2>/dev/null && [[ $(ps -o stat= -p "$daemon_pid") != T* ]]; }
etcd_revision() {
	ETCDCTL_API=3 etcdctl --endpoints="$FLINKOP_ETCD_ENDPOINT" endpoint status -w json |
		sed -n 's/.*"revision":\([0-9]*\).*/\1/p'
}

[[ -n ${KUBECONFIG:-} && -n ${KUBECTL:-} && -n ${FLINKOP_ETCD_ENDPOINT:-} ]] ||
	{ not_ok "environment" "run under tests/cluster/with-cluster"; finish; }
[[ -x $bin ]] || { not_ok "environment" "$bin is not built"; finish; }
command -v etcdctl >/dev/null || { not_ok "environment" "etcdctl is not installed"; finish; }

k apply --server-side -f "$ref/helm/flink-kubernetes-operator/crds/" >/dev/null &&
	k wait --for condition=established crd --all --timeout=60s >/dev/null || { not_ok "CRDs installed"; finish; }
for ns in "$a" "$b" "$c" "$op"; do k create namespace "$ns" >/dev/null; done
# The operator's own identity as an installer would make it: ServiceAccount, a Role and RoleBinding per watched
# namespace and one at home, all from rbac.lua.
install() { "$bin" --dry-run --script-dir "$repo" --install --watch-namespaces "$a,$b,$c" --operator-namespace "$op"; }
install | k apply -f - >/dev/null || { not_ok "the operator's install objects apply"; finish; }
"$repo/tests/cluster/sa-kubeconfig" "$op" flink-operator "$sa_kc" 2h ||
	{ not_ok "a kubeconfig for the operator's ServiceAccount"; finish; }
if ! as_operator auth can-i list namespaces >/dev/null 2>&1 && as_operator auth can-i list deployments -n "$a" >/dev/null &&
	! as_operator auth can-i list deployments -n default >/dev/null 2>&1; then
	ok "the daemon's identity is the operator ServiceAccount, held to the watched namespaces"
else
	not_ok "the daemon's identity is the operator ServiceAccount, held to the watched namespaces"
fi
k -n "$a" apply -f "$ref/examples/basic.yaml" >/dev/null
k -n "$c" apply -f "$ref/examples/basic.yaml" >/dev/null

resync=3
"$bin" run --kubeconfig "$sa_kc" --script-dir "$repo" --watch-namespaces "$a,$b,$c" --operator-namespace "$op" \
	--probe-address "127.0.0.1:0" --resync-interval "$resync" --log-level debug >"$log" 2>&1 &
daemon_pid=$!
probe_port() { probe_port_in "$log"; }
has_port() { [[ -n $(probe_port) ]]; }
eventually 10 has_port || { not_ok "the daemon starts" "$(tail -n 5 "$log")"; finish; }
port=$(probe_port)

# --- as the ServiceAccount: the generated Roles are enough to converge -----------------------------------------
converged_as_sa() {
	local ns o
	for o in deployment/basic-example configmap/flink-config-basic-example; do
		has "$a" "$o" && has "$c" "$o" || return 1
	done
	for ns in "$a" "$b" "$c"; do has "$ns" rolebinding/flink-role-binding || return 1; done
}
started=$EPOCHREALTIME
if eventually 60 converged_as_sa; then
	ok "as the ServiceAccount, FlinkDeployments in two namespaces get their objects, and all three their flink RBAC ($(since "$started") s)"
else
	not_ok "as the ServiceAccount, FlinkDeployments in two namespaces get their objects" "$(grep -m3 'level=warn\|level=error' "$log")"
fi
w_settled=$(settle)
# One informer per watched kind and namespace, each of which lists once at start.
informers=$(grep 'msg="listed"' "$log" | grep -o 'kind=[^ ]* namespace=[^ ]*' | sort -u | wc -l)
n403=$(forbidden_requests)
check "the generated Roles suffice: converging ($w_settled writes) met no 403" "$n403 requests got 403" \
	test "$n403" -eq 0

# --- 1. etcd and kube-apiserver restart under the running daemon -------------------------------------------------
before_a=$(owned "$a")
before_c=$(owned "$c")
w0=$(writes)
err0=$(restarts error)
started=$EPOCHREALTIME
if "$restart" etcd kube-apiserver >"$tmp/restart.log" 2>&1; then
	down_s=$(since "$started")
	reconnected() { (($(restarts error) > err0)) && curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null; }
	eventually 60 reconnected
	w1=$(settle)
	after_a=$(owned "$a")
	after_c=$(owned "$c")
	if [[ -n $before_a && $before_a == "$after_a" && $before_c == "$after_c" ]]; then
		ok "after the restart ($down_s s) every owned object has its old uid and creationTimestamp ($(wc -l <<<"$before_a") in $a, $(wc -l <<<"$before_c") in $c)"
	else
		not_ok "after the restart every owned object has its old uid and creationTimestamp" \
			"$(diff <(echo "$before_a$before_c") <(echo "$after_a$after_c") | tr '\n' ' ')"
	fi
	errs=$(($(restarts error) - err0))
	check "the daemon reconnects ($errs watch restarts counted with reason error) and makes no write doing so" \
		"writes went from $w0 to $w1" test "$w1" -eq "$w0" -a "$errs" -gt 0
	check "the daemon lived through the restart" "it exited: $(tail -n 3 "$log")" alive
	converges_new_work "after the restart," after-restart
	settle >/dev/null
	dups=$(for ns in "$a" "$b" "$c"; do events "$ns" | uniq -d; done)
	lost=$(for ns in "$a" "$b" "$c"; do events "$ns"; done | grep -c RecoverDeployment)
	if [[ -z $dups && $lost -eq 0 ]]; then
		ok "no Event was posted twice and none says a Deployment was lost ($(events "$a" | wc -l) Events in $a)"
	else
		not_ok "no Event was posted twice and none says a Deployment was lost" "duplicates: $dups; RecoverDeployment: $lost"
	fi
else
	not_ok "tests/cluster/restart etcd kube-apiserver" "$(tail -n 5 "$tmp/restart.log")"
fi

# --- 2. a 410: the daemon misses changes while its resourceVersions are compacted away ---------------------------
# The daemon is stopped and the apiserver restarted first, so its watches are gone before anything changes (events
# sent on a live watch would wait in the socket for it and arrive anyway). The changes then reach it only through a
# list; the compaction makes every resourceVersion it holds too old, so on SIGCONT each informer resumes its watch,
# must get 410, and relist.
relist0=$(restarts relist)
kill -STOP "$daemon_pid"
if "$restart" kube-apiserver >"$tmp/restart.log" 2>&1; then
	new_fd "$b" while-stopped                                                   # ADDED
	k -n "$a" patch flinkdeployment basic-example --type merge \
		-p '{"spec":{"flinkConfiguration":{"taskmanager.numberOfTaskSlots":"3"}}}' >/dev/null # MODIFIED
	k -n "$a" delete configmap pod-template-basic-example >/dev/null            # DELETED
	rev=$(etcd_revision)
fi
if [[ -n ${rev:-} ]] && ETCDCTL_API=3 etcdctl --endpoints="$FLINKOP_ETCD_ENDPOINT" compact "$rev" >/dev/null; then
	started=$EPOCHREALTIME
	lines0=$(wc -l <"$log")
	kill -CONT "$daemon_pid"
	# Every informer held a version older than the compaction, so every one must get 410 and relist.
	expired() { tail -n +$((lines0 + 1)) "$log" | grep 'msg="watch expired, relisting"' | grep -o 'kind=[^ ]* namespace=[^ ]*' | sort -u | wc -l; }
	all_relisted() { (($(expired) == informers && $(restarts relist) - relist0 >= informers)); }
	if eventually 60 all_relisted; then
		ok "resuming from versions compacted at revision $rev, all $informers informers get 410 and relist ($(since "$started") s)"
	else
		not_ok "resuming from versions compacted at revision $rev, all $informers informers get 410 and relist" \
			"$(expired) informers logged 'watch expired', $(($(restarts relist) - relist0)) relists counted"
	fi
	slots() { k -n "$a" get configmap flink-config-basic-example -o jsonpath='{.data}' | grep -q 'numberOfTaskSlots: 3'; }
	generation2() { [[ $(k -n "$a" get flinkdeployment basic-example -o jsonpath='{.status.observedGeneration}') == 2 ]]; }
	missing=""
	eventually 60 has "$b" deployment/while-stopped || missing+=" ADDED(FlinkDeployment $b/while-stopped has no Deployment)"
	eventually 30 slots || missing+=" MODIFIED(the configuration does not have 3 slots)"
	eventually 30 generation2 || missing+=" MODIFIED(observedGeneration is not 2)"
	eventually 30 has "$a" configmap/pod-template-basic-example || missing+=" DELETED(the pod template did not come back)"
	check "after the relist no change made during the gap is lost: added, modified, deleted ($(since "$started") s)" \
		"$missing" test -z "$missing"
else
	kill -CONT "$daemon_pid"
	not_ok "restart kube-apiserver and compact etcd at revision ${rev:-?}" "$(tail -n 5 "$tmp/restart.log")"
fi
settle >/dev/null

# --- 3. the operator loses access to one namespace ---------------------------------------------------------------
k -n "$c" delete rolebinding flink-operator-role-binding >/dev/null
if as_operator auth can-i list deployments -n "$c" >/dev/null 2>&1; then
	not_ok "removing the operator's RoleBinding in $c takes its access away"
fi
# RBAC is checked when a request starts: open watches outlive the binding until they time out (5-10 min). A restart
# of kube-apiserver ends them now, so every informer asks again and those of $c are refused.
"$restart" kube-apiserver >"$tmp/restart.log" 2>&1 || not_ok "restart kube-apiserver" "$(tail -n 5 "$tmp/restart.log")"
cut_at=$EPOCHREALTIME
# refusals NS: the daemon's log lines about a 403 in namespace NS.
refusals() { grep 'level=warn' "$log" | grep "namespace=$1 " | grep -c 'is forbidden: User'; }
refused() { (($(refusals "$c") > 0)); }
if eventually 30 refused; then
	ok "the daemon logs that $c is forbidden: $(grep 'level=warn' "$log" | grep "namespace=$c " | grep -m1 'is forbidden' | grep -o 'msg="[^"]*" kind=[^ ]* namespace=[^ ]*')"
else
	not_ok "the daemon logs that $c is forbidden"
fi
converges_new_work "with $c forbidden," during-cut
# The restarted apiserver refuses everyone for a moment until its RBAC cache is loaded ("RBAC: clusterrole ... not
# found"), so $a and $b may see a 403 or two right after it: after that only $c may be refused. All informers of $c
# are refused (a third of them); each retries on its own capped backoff, so once the backoff has grown a 20 s window
# holds a few attempts each: 4 per informer is already generous (without backoff it would be hundreds).
most=$((4 * informers / 3))
sleep 10
f0=$(forbidden_requests) ab0=$(($(refusals "$a") + $(refusals "$b"))) c0=$(refusals "$c")
sleep 20
f1=$(forbidden_requests) ab1=$(($(refusals "$a") + $(refusals "$b"))) c1=$(refusals "$c")
check "the refused namespace is retried with backoff: $((f1 - f0)) 403s in 20 s ($f1 since access was cut, $(since "$cut_at") s ago)" \
	"more than $most 403s" test $((f1 - f0)) -le "$most"
check "in those 20 s only $c is refused ($((c1 - c0)) refusals logged), never $a or $b" \
	"$((ab1 - ab0)) refusals for $a or $b" test $((ab1 - ab0)) -eq 0 -a $((c1 - c0)) -gt 0
if alive && curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null && curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null; then
	ok "the daemon stays up and ready with one namespace forbidden"
else
	not_ok "the daemon stays up and ready with one namespace forbidden"
fi

# While refused, $c changes; once the binding is back, the next retry (at most the backoff cap) sees the change.
k -n "$c" delete configmap flink-config-basic-example >/dev/null
install | k apply -f - >/dev/null
started=$EPOCHREALTIME
if eventually $((backoff_cap + 15)) has "$c" configmap/flink-config-basic-example; then
	ok "with the binding restored, $c converges again ($(since "$started") s; the backoff cap is 30 s + jitter)"
else
	not_ok "with the binding restored, $c converges again within the backoff cap"
fi

namespaces_end
kill -TERM "$daemon_pid"
wait "$daemon_pid"
rc=$?
daemon_pid=
check "after all this, SIGTERM stops the daemon with status 0 and no sanitizer report" \
	"status $rc: $(grep -A3 -m1 Sanitizer "$log")" test "$rc" -eq 0
finish
