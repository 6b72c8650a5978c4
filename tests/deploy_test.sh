#!/usr/bin/env bash
# The kustomize install against the real control plane: the generated files are up to date with the policies and
# `flinkop install`; `kubectl apply --server-side -k deploy/` (the policy ConfigMap is beyond the 256 KiB of a
# client-side apply's last-applied-configuration annotation) installs the CRDs, the operator's RBAC, its Deployment
# and the policy ConfigMap; a daemon started with that Deployment's own arguments and its ServiceAccount's token loads the
# policy from the ConfigMap and reconciles the upstream example; the namespaced overlay passes the API server's
# validation. (This control plane has no kubelet, so the Deployment's pod itself never runs: the daemon runs here
# as the pod would.)
# Run under tests/cluster/with-cluster; needs build/asan/flinkop and build/flinkop (make does it).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${FLINKOP_BIN:-$repo/build/asan/flinkop}
ref=$repo/../shared/reference/flink-kubernetes-operator
tmp=$(mktemp -d)
ns=flinkop-system
app=dp$$

# $ns (flinkop-system) goes last: the installed operator's ServiceAccount there is the daemon's identity.
suite_namespaces=("$app")

finish() { suite_finish deploy "$ns" flink-jobs; }
# shellcheck source=cluster_lib.sh
. "$repo/tests/cluster_lib.sh"
has_port() { [[ -n $(probe_port_in "$tmp/daemon.log") ]]; }

[[ -n ${KUBECONFIG:-} && -n ${KUBECTL:-} ]] || { not_ok "environment" "run under tests/cluster/with-cluster"; finish; }
[[ -x $bin ]] || { not_ok "environment" "$bin is not built"; finish; }

if FLINKOP_BIN=$repo/build/flinkop "$repo/deploy/generate" --check 2>"$tmp/generate.err"; then
	ok "deploy/ is up to date with the policies and flinkop install"
else
	not_ok "deploy/ is up to date with the policies and flinkop install" "$(cat "$tmp/generate.err")"
fi

if k apply --server-side -k "$repo/deploy" >"$tmp/apply.out" 2>&1 && k wait --for condition=established crd --all --timeout=60s \
	>/dev/null && k -n "$ns" get serviceaccount/flink-operator deployment/flinkop configmap/flinkop-policy >/dev/null &&
	k get clusterrole/flink-operator >/dev/null; then
	ok "kubectl apply --server-side -k deploy/ installs CRDs, RBAC, the operator Deployment and the policy ConfigMap"
else
	not_ok "kubectl apply --server-side -k deploy/ installs the operator" "$(tail -n 5 "$tmp/apply.out")"
	finish
fi

# The container's own arguments, with the probe on a free loopback port instead of 0.0.0.0:8085.
mapfile -t args < <(k -n "$ns" get deployment flinkop -o jsonpath='{range .spec.template.spec.containers[0].args[*]}{@}{"\n"}{end}')
for i in "${!args[@]}"; do [[ ${args[$i]} == --probe-address ]] && args[i + 1]=127.0.0.1:0; done
"$repo/tests/cluster/sa-kubeconfig" "$ns" flink-operator "$tmp/operator.kubeconfig" >/dev/null
"$bin" "${args[@]}" --kubeconfig "$tmp/operator.kubeconfig" --resync-interval 5 >"$tmp/daemon.log" 2>&1 &
daemon_pid=$!
if eventually 10 has_port && eventually 15 grep -q 'msg="policy loaded" object=flinkop-system/flinkop-policy' "$tmp/daemon.log"; then
	ok "the operator, run with its Deployment's arguments (${args[*]:0:3} ...), loads the policy from the ConfigMap"
else
	not_ok "the operator loads the policy from the ConfigMap" "$(tail -n 3 "$tmp/daemon.log")"
fi
k create namespace "$app" >/dev/null
k -n "$app" apply -f "$ref/examples/basic.yaml" >/dev/null
missing=""
for o in deployment/basic-example service/basic-example-rest serviceaccount/flink role/flink rolebinding/flink-role-binding; do
	eventually 20 k -n "$app" get "$o" || missing="$missing $o"
done
[[ -z $missing ]] && ok "as its ServiceAccount, the installed operator reconciles basic.yaml" ||
	not_ok "as its ServiceAccount, the installed operator reconciles basic.yaml" "missing:$missing; $(grep -m2 'level=error' "$tmp/daemon.log")"
namespaces_end
kill -TERM "$daemon_pid" && wait "$daemon_pid"
rc=$?
daemon_pid=
((rc == 0)) && ok "it stops cleanly (exit 0, no sanitizer report)" ||
	not_ok "it stops cleanly" "exit $rc: $(grep -m1 -A5 Sanitizer "$tmp/daemon.log")"

k create namespace flink-jobs >/dev/null 2>&1
if k apply --server-side --dry-run=server -k "$repo/deploy/namespaced" >"$tmp/ns.out" 2>&1 &&
	grep -q "role.rbac.authorization.k8s.io/flink-operator" "$tmp/ns.out"; then
	ok "the namespaced overlay passes the API server's validation (Roles, no ClusterRole)"
else
	not_ok "the namespaced overlay passes the API server's validation" "$(tail -n 3 "$tmp/ns.out")"
fi
finish
