#!/usr/bin/env bash
# Leader election against the real control plane: two `flinkop run --leader-elect` replicas share one Lease;
# exactly one writes; killing it hands over within the lease time; a SIGTERM hands over at once by releasing the
# lease; a leader that finds its lease taken stops writing at once and resumes only once it holds it again.
# Run under tests/cluster/with-cluster; needs build/asan/flinkop (make does it).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${FLINKOP_BIN:-$repo/build/asan/flinkop}
ref=$repo/../shared/reference/flink-kubernetes-operator
tmp=$(mktemp -d)
run=le$$
lease=flinkop-leader
declare -A pid port
# $run-op holds the Lease: it goes after $run-a, which a replica that still leads must finish.
suite_namespaces=("$run-a")

finish() {
	daemon_pid=${pid[three]:-} # the leader at the end
	namespaces_end
	for r in "${!pid[@]}"; do kill -9 "${pid[$r]}" 2>/dev/null; done
	suite_finish leader "$run-op"
}
# shellcheck source=cluster_lib.sh
. "$repo/tests/cluster_lib.sh"
writes() { writes_at "${port[$1]}"; }
leads() { [[ $(metrics_at "${port[$1]}" | awk '/^flinkop_leader / { print $2 }') == 1 ]]; }
holder() { k -n "$run-op" get lease "$lease" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
# The replica whose pid is in the lease's holderIdentity (host_pid_random).
holder_replica() {
	local h r
	h=$(holder)
	for r in "${!pid[@]}"; do [[ $h == *"_${pid[$r]}_"* ]] && echo "$r"; done
}
has_holder() { [[ -n $(holder_replica) ]]; }
start() {
	local r=$1
	"$bin" run --kubeconfig "$KUBECONFIG" --script-dir "$repo" --operator-namespace "$run-op" --leader-elect \
		--probe-address 127.0.0.1:0 --resync-interval 2 >"$tmp/$r.log" 2>&1 &
	pid[$r]=$!
	local p
	for _ in $(seq 40); do
		p=$(probe_port_in "$tmp/$r.log")
		[[ -n $p ]] && break
		sleep 0.25
	done
	port[$r]=$p
	[[ -n $p ]]
}
owned() { k -n "$run-a" get configmap pod-template-basic-example; }

[[ -n ${KUBECONFIG:-} && -n ${KUBECTL:-} ]] || { not_ok "environment" "run under tests/cluster/with-cluster"; finish; }
[[ -x $bin ]] || { not_ok "environment" "$bin is not built"; finish; }
k apply --server-side -f "$ref/helm/flink-kubernetes-operator/crds/" >/dev/null &&
	k wait --for condition=established crd --all --timeout=60s >/dev/null || { not_ok "CRDs installed"; finish; }
k create namespace "$run-op" >/dev/null
k create namespace "$run-a" >/dev/null
k -n "$run-a" apply -f "$ref/examples/basic.yaml" >/dev/null

start one && start two || { not_ok "two replicas start" "$(tail -n 3 "$tmp"/*.log)"; finish; }

# --- exactly one leads, and only it writes ---
if eventually 30 has_holder; then
	leader=$(holder_replica)
	[[ $leader == one ]] && follower=two || follower=one
	ok "one replica takes the Lease $run-op/$lease ($leader)"
else
	not_ok "one replica takes the Lease" "holder='$(holder)'"
	finish
fi
if eventually 30 owned; then
	ok "the leader converges the example"
else
	not_ok "the leader converges the example" "$(tail -n 5 "$tmp/$leader.log")"
fi
sleep 5 # two resyncs of the follower's caches
if leads "$leader" && ! leads "$follower" && (($(writes "$leader") > 0)) && (($(writes "$follower") == 0)); then
	ok "exactly one replica writes (leader $(writes "$leader") writes, follower 0)"
else
	not_ok "exactly one replica writes" "leader $(writes "$leader"), follower $(writes "$follower")"
fi

# --- a killed leader is replaced within the lease time (15 s) plus one retry period (2 s) ---
kill -9 "${pid[$leader]}"
wait "${pid[$leader]}" 2>/dev/null
unset "pid[$leader]"
t0=$SECONDS
if eventually 25 leads "$follower"; then
	took=$((SECONDS - t0))
	((took <= 18)) && ok "after the leader is killed the other takes over (${took}s)" ||
		not_ok "after the leader is killed the other takes over within 17s" "${took}s"
else
	not_ok "after the leader is killed the other takes over" "$(tail -n 5 "$tmp/$follower.log")"
fi
k -n "$run-a" delete configmap pod-template-basic-example >/dev/null
if eventually 15 owned; then
	ok "the new leader puts back an owned object deleted by hand"
else
	not_ok "the new leader puts back an owned object deleted by hand"
fi
leader=$follower

# --- a SIGTERM releases the lease: the standby takes over at once, not after 15 s ---
start three || { not_ok "a third replica starts"; finish; }
sleep 3
t0=$SECONDS
kill -TERM "${pid[$leader]}"
wait "${pid[$leader]}"
rc=$?
unset "pid[$leader]"
if ((rc == 0)) && grep -q 'msg="leader election: released the lease"' "$tmp/$leader.log"; then
	ok "SIGTERM releases the lease and exits 0"
else
	not_ok "SIGTERM releases the lease and exits 0" "exit $rc; $(tail -n 3 "$tmp/$leader.log")"
fi
if eventually 8 leads three; then
	took=$((SECONDS - t0))
	((took <= 6)) && ok "a released lease is taken over at once (${took}s)" ||
		not_ok "a released lease is taken over within 6s" "${took}s"
else
	not_ok "a released lease is taken over" "holder='$(holder)'"
fi

# --- a leader that finds its lease taken stops writing at once ---
eventually 10 owned
k -n "$run-op" patch lease "$lease" --type merge -p '{"spec":{"holderIdentity":"intruder"}}' >/dev/null
t0=$SECONDS
if eventually 4 bash -c "! curl -fsS http://127.0.0.1:${port[three]}/metrics | grep -qx 'flinkop_leader 1'"; then
	ok "a leader whose lease is taken stops leading ($((SECONDS - t0))s)"
else
	not_ok "a leader whose lease is taken stops leading within 4s"
fi
before=$(writes three)
k -n "$run-a" delete configmap pod-template-basic-example >/dev/null
sleep 5
if ! owned >/dev/null 2>&1 && [[ $(writes three) == "$before" ]]; then
	ok "a replica that is not the leader writes nothing (the deleted object stays gone)"
else
	not_ok "a replica that is not the leader writes nothing" "writes $before -> $(writes three)"
fi
# The intruder never renews: its lease expires 15 s after it was seen, and the replica takes it back.
if eventually 25 owned && leads three; then
	ok "once the taken lease expires, the replica leads again and converges"
else
	not_ok "once the taken lease expires, the replica leads again and converges" "holder='$(holder)'"
fi
finish
