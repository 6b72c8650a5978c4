#!/usr/bin/env bash
# valgrind finds no leak and no memory error in the daemon over a run of FLINKOP_VALGRIND_SECONDS (default 60)
# with resyncs every 2 s, leader election on (so the lease's renewals and its release run too), the FlinkDeployment's
# namespace deleted (so its cleanup runs too), ended by SIGTERM. Run under tests/cluster/with-cluster; needs build/flinkop.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${FLINKOP_RELEASE_BIN:-$repo/build/flinkop}
ref=$repo/../shared/reference/flink-kubernetes-operator
seconds=${FLINKOP_VALGRIND_SECONDS:-60}
tmp=$(mktemp -d)
ns=vg$$ op=vg$$-op
k() { "$KUBECTL" --kubeconfig "$KUBECONFIG" "$@"; }
result() {
	echo "$1"
	[[ $1 == ok* ]] && echo "daemon-valgrind: 1 passed, 0 failed" || echo "daemon-valgrind: 0 passed, 1 failed"
	k delete namespace "$ns" "$op" --ignore-not-found --wait=false >/dev/null 2>&1
	rm -rf "$tmp"
	[[ $1 == ok* ]]
	exit
}

command -v valgrind >/dev/null || result "not ok - valgrind is installed"
k apply --server-side -f "$ref/helm/flink-kubernetes-operator/crds/" >/dev/null &&
	k wait --for condition=established crd --all --timeout=60s >/dev/null || result "not ok - CRDs installed"
k create namespace "$op" >/dev/null
k create namespace "$ns" >/dev/null && k -n "$ns" apply -f "$ref/examples/basic.yaml" >/dev/null

valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
	"$bin" run --kubeconfig "$KUBECONFIG" --script-dir "$repo" --operator-namespace "$op" --leader-elect \
	--probe-address 127.0.0.1:0 --resync-interval 2 >"$tmp/log" 2>&1 &
pid=$!
sleep "$seconds"
made=$(k -n "$ns" get deployment basic-example -o name 2>/dev/null)
# The FlinkDeployment carries the operator's finalizer: its namespace goes while the daemon runs (the cleanup path
# runs under valgrind too), not left Terminating for a later daemon. The lease is in "$op", released at SIGTERM.
k delete namespace "$ns" --timeout=90s >/dev/null 2>&1 || gone="namespace $ns still there after 90 s"
kill -TERM "$pid"
wait "$pid"
rc=$?
name="valgrind reports no leak or error over a ${seconds} s daemon run that converged"
if [[ $rc -eq 0 && -n $made && -z ${gone:-} ]] && grep -q 'msg="leader election: released the lease"' "$tmp/log"; then
	result "ok - $name"
else
	result "not ok - $name: exit status $rc, deployment '${made}' ${gone:-}; $(grep -m5 -E '==[0-9]+==' "$tmp/log")"
fi
