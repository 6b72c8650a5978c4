#!/usr/bin/env bash
# The daemon's footprint against the real control plane: for N namespaces each holding every top-level upstream
# FlinkDeployment example, the time and API writes to converge, the API writes of a converged resync, the
# resident memory once idle, and the CPU it used while idle. Prints one table row per size; figures, not verdicts.
#   bench/daemon_footprint.sh [SIZES]       e.g. "1 10" (default): 1 and 10 namespaces of examples
# Run under tests/cluster/with-cluster (`make bench` does); uses the release build, build/flinkop.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${FLINKOP_RELEASE_BIN:-$repo/build/flinkop}
ref=$repo/../shared/reference/flink-kubernetes-operator
sizes=${1:-1 10}
resync=5
tmp=$(mktemp -d)
run=bn$$
# shellcheck source=../tests/cluster_lib.sh
. "$repo/tests/cluster_lib.sh"
trap '[[ -n ${pid:-} ]] && kill -9 "$pid" 2>/dev/null; k delete namespace -l "bench=$run" --wait=false >/dev/null 2>&1; rm -rf "$tmp"' EXIT

[[ -n ${KUBECONFIG:-} && -x $bin ]] || { echo "bench: run under tests/cluster/with-cluster with build/flinkop built" >&2; exit 2; }
k apply --server-side --force-conflicts -f "$ref/helm/flink-kubernetes-operator/crds/" >/dev/null &&
	k wait --for condition=established crd --all --timeout=60s >/dev/null
examples=$(grep -l '^kind: FlinkDeployment' "$ref"/examples/*.yaml)
per_ns=$(cat $examples | grep -c '^kind: FlinkDeployment')
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

printf '%-11s %-15s %-10s %-14s %-18s %-13s %s\n' namespaces FlinkDeployments converge writes_to_conv writes_per_resync idle_RSS_MiB \
	"idle_CPU_%"
made=0
for n in $sizes; do
	while ((made < n)); do
		made=$((made + 1))
		ns=$run-$made
		k create namespace "$ns" >/dev/null && k label namespace "$ns" "bench=$run" >/dev/null
		for f in $examples; do k -n "$ns" apply -f "$f" >/dev/null 2>&1; done
	done
	t0=$(date +%s.%N)
	"$bin" run --kubeconfig "$KUBECONFIG" --script-dir "$repo" --operator-namespace "$run-1" --probe-address 127.0.0.1:0 \
		--resync-interval "$resync" --log-level warn >"$tmp/daemon.log" 2>&1 &
	pid=$!
	eventually 10 grep -q 'probe_port=' "$tmp/daemon.log" || true
	# --log-level warn hides the start line: find the port from the process's listening socket instead.
	port=$(ss -ltnp 2>/dev/null | awk -v p="pid=$pid," '$0 ~ p { sub(/.*:/, "", $4); print $4; exit }')
	# Converged: the writes stop growing for one whole resync.
	prev=-1
	for _ in $(seq 60); do
		sleep "$resync"
		w=$(writes_at "$port")
		[[ $w == "$prev" ]] && break
		prev=$w
	done
	[[ $w == "$prev" ]] || echo "bench: $n namespaces did not converge in $((60 * resync))s; figures below are not idle" >&2
	converge=$(echo "$(date +%s.%N) - $t0 - $resync" | bc)
	sleep "$resync"
	c0=$(cpu_ticks "$pid") w0=$(writes_at "$port")
	sleep $((3 * resync))
	c1=$(cpu_ticks "$pid") w1=$(writes_at "$port")
	rss=$(rss_kib "$pid")
	hz=$(getconf CLK_TCK)
	cpu=$(echo "scale=2; 100 * ($c1 - $c0) / $hz / (3 * $resync)" | bc)
	printf '%-11s %-15s %-10s %-14s %-18s %-13s %s\n' "$n" "$((n * per_ns))" "${converge%.*}s" "$w" \
		"$(((w1 - w0) / 3))" "$(echo "scale=1; $rss / 1024" | bc)" "$cpu"
	kill -TERM "$pid" && wait "$pid"
	pid=
done
echo "(upstream's Helm chart suggests 512 MiB for its JVM operator pod; resync every ${resync}s; writes exclude lease traffic)"
