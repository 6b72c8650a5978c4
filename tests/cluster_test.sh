#!/usr/bin/env bash
# Tests that prove the test control plane (tests/cluster/) is a real one:
# CRDs are served and validated, RBAC and service-account tokens work, the
# controllers (deployment, replicaset, garbage collector, namespace) run, and
# a watch from a compacted resourceVersion ends with 410.
#
# Needs a running cluster: tests/cluster/with-cluster tests/cluster_test.sh
# (or tests/cluster/up first). Prints `ok - NAME` / `not ok - NAME: REASON`
# per test and `N passed, M failed` last; exits 1 if any failed.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cluster=$here/cluster
# shellcheck source=cluster/common.sh
. "$cluster/common.sh"

if [[ ! -f $STATE/env ]]; then
	echo "cluster_test: no cluster in $STATE: run tests/cluster/up or tests/cluster/with-cluster" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
. "$STATE/env"

reference=${FLINKOP_REFERENCE:-$repo/../shared/reference/flink-kubernetes-operator}
run_id=t$$
timeout_s=${FLINKOP_TEST_TIMEOUT:-90}
tmp=$(mktemp -d)

k() { "$KUBECTL" "$@"; }

# die REASON: end the current test (tests run in a subshell) with REASON.
die() {
	echo "$*"
	exit 1
}

# new_ns NAME: create a namespace unique to this run and print its name.
new_ns() {
	local ns=$run_id-$1
	# Called as $(new_ns X): the reason goes to stderr, which the test captures.
	k create namespace "$ns" >/dev/null || { echo "cannot create namespace $ns" >&2; return 1; }
	echo "$ns"
}

# eventually SECONDS CMD...: retry CMD every half second until it succeeds.
eventually() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || return 1
		sleep 0.5
	done
}

# http_code TOKEN PATH: the HTTP status of a GET as the bearer of TOKEN.
http_code() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$FLINKOP_CA" \
		-H "Authorization: Bearer $1" "$FLINKOP_APISERVER$2"
}

admin_curl() {
	curl -s --cacert "$FLINKOP_CA" --cert "$FLINKOP_ADMIN_CERT" --key "$FLINKOP_ADMIN_KEY" "$@"
}

gone() { ! k get "$@" >/dev/null 2>&1; }

# established CRD: the CRD's Established condition is True. (kubectl wait
# fails outright while a new CRD has no conditions yet, so poll instead.)
established() {
	[[ $(k get crd "$1" -o jsonpath='{.status.conditions[?(@.type=="Established")].status}') == True ]]
}

# The kernel takes the local port of outgoing connections from this range; a
# component listening inside it could find its port taken before it binds.
test_ports_lie_outside_the_ephemeral_range() {
	local lo hi name port
	read -r lo hi </proc/sys/net/ipv4/ip_local_port_range || die "cannot read ip_local_port_range"
	[[ -f $STATE/ports ]] || die "no $STATE/ports"
	while IFS== read -r name port; do
		((port < lo || port > hi)) || die "$name=$port is inside the ephemeral range $lo-$hi"
	done <"$STATE/ports"
}

test_apiserver_runs_the_pinned_release() {
	local want got
	want=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$cluster/kube/go.mod")
	got=$(k version -o json | sed -n '/serverVersion/,$s/.*"gitVersion": *"\([^"]*\)".*/\1/p' | head -n1)
	[[ -n $want && $got == "$want" ]] || die "server gitVersion is '$got', go.mod pins '$want'"
}

test_flink_crds_are_established_and_serve_basic_example() {
	local crds=$reference/helm/flink-kubernetes-operator/crds ns got
	[[ -d $crds ]] || die "no CRDs at $crds"
	# Server-side apply: the CRDs are too large for the last-applied annotation.
	k apply --server-side --force-conflicts -f "$crds" >"$tmp/crds.out" 2>&1 ||
		die "applying the CRDs failed: $(tail -n1 "$tmp/crds.out")"
	local crd
	for crd in flinkdeployments flinksessionjobs flinkstatesnapshots flinkbluegreendeployments; do
		eventually 60 established "$crd.flink.apache.org" || die "CRD $crd not Established within 60s"
	done
	ns=$(new_ns crd) || exit 1
	# A CRD is Established before its REST endpoint serves: allow a moment.
	eventually 30 k create -n "$ns" -f "$reference/examples/basic.yaml" ||
		die "creating examples/basic.yaml failed: $(k create -n "$ns" -f "$reference/examples/basic.yaml" 2>&1 | tail -n1)"
	got=$(k get flinkdeployment basic-example -n "$ns" -o \
		jsonpath='{.spec.image}|{.spec.flinkVersion}|{.spec.serviceAccount}|{.spec.job.upgradeMode}|{.spec.job.parallelism}|{.spec.job.jarURI}|{.spec.jobManager.resources.requests.memory}|{.spec.flinkConfiguration.taskmanager\.numberOfTaskSlots}')
	local want='flink:2.2|v2_2|flink|stateless|2|local:///opt/flink/examples/streaming/StateMachineExample.jar|2048m|2'
	[[ $got == "$want" ]] || die "read back '$got', want '$want'"
}

test_flink_crd_schema_rejects_unknown_upgrade_mode() {
	local ns out
	eventually 30 k get crd flinkdeployments.flink.apache.org || die "FlinkDeployment CRD missing"
	ns=$(new_ns schema) || exit 1
	sed 's/upgradeMode: stateless/upgradeMode: fast/' "$reference/examples/basic.yaml" >"$tmp/bad.yaml"
	if out=$(k create -n "$ns" -f "$tmp/bad.yaml" 2>&1); then
		die "a FlinkDeployment with upgradeMode: fast was accepted"
	fi
	[[ $out == *upgradeMode* ]] || die "rejected for another reason: $out"
}

# flink_rbac NS: the manual per-namespace setup from the operator's docs.
flink_rbac() {
	k create serviceaccount flink -n "$1" >/dev/null || return 1
	k apply -f - >/dev/null <<-EOF
		apiVersion: rbac.authorization.k8s.io/v1
		kind: Role
		metadata:
		  name: flink
		  namespace: $1
		rules:
		- apiGroups: [""]
		  resources: ["pods", "configmaps"]
		  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
		- apiGroups: ["apps"]
		  resources: ["deployments", "deployments/finalizers"]
		  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
		---
		apiVersion: rbac.authorization.k8s.io/v1
		kind: RoleBinding
		metadata:
		  name: flink-role-binding
		  namespace: $1
		roleRef:
		  apiGroup: rbac.authorization.k8s.io
		  kind: Role
		  name: flink
		subjects:
		- kind: ServiceAccount
		  name: flink
		  namespace: $1
	EOF
}

test_flink_service_account_is_confined_to_its_namespace() {
	local ns other as token code
	ns=$(new_ns rbac) || exit 1
	other=$(new_ns other) || exit 1
	flink_rbac "$ns" || die "creating the flink ServiceAccount, Role and RoleBinding failed"
	as=system:serviceaccount:$ns:flink
	[[ $(k auth can-i create pods --as="$as" -n "$ns") == yes ]] ||
		die "can-i create pods in $ns is not yes"
	[[ $(k auth can-i create pods --as="$as" -n "$other") == no ]] ||
		die "can-i create pods in $other is not no"
	"$cluster/sa-kubeconfig" "$ns" flink "$tmp/flink.kubeconfig" || die "sa-kubeconfig failed"
	FLINKOP_KUBECONFIG=$tmp/flink.kubeconfig "$cluster/kubectl" get pods -n "$ns" >/dev/null ||
		die "the SA kubeconfig cannot list pods in $ns"
	token=$(sed -n 's/^ *token: //p' "$tmp/flink.kubeconfig")
	code=$(http_code "$token" "/api/v1/namespaces/$ns/pods")
	[[ $code == 200 ]] || die "listing pods in $ns with the token gave HTTP $code, want 200"
	code=$(http_code "$token" "/api/v1/namespaces/$other/pods")
	[[ $code == 403 ]] || die "listing pods in $other with the token gave HTTP $code, want 403"
}

# owned_configmap NAME OWNER_KIND OWNER_NAME OWNER_UID: a ConfigMap manifest
# whose ownerReference blocks the owner's foreground deletion.
owned_configmap() {
	local api=v1
	[[ $2 == Deployment ]] && api=apps/v1
	cat <<-EOF
		apiVersion: v1
		kind: ConfigMap
		metadata:
		  name: $1
		  ownerReferences:
		  - apiVersion: $api
		    kind: $2
		    name: $3
		    uid: $4
		    blockOwnerDeletion: true
		data: {k: v}
	EOF
}

test_block_owner_deletion_needs_finalizers_permission() {
	local ns uid out
	ns=$(new_ns ownerref) || exit 1
	flink_rbac "$ns" || die "creating the flink RBAC failed"
	"$cluster/sa-kubeconfig" "$ns" flink "$tmp/owner.kubeconfig" || die "sa-kubeconfig failed"
	ks() { FLINKOP_KUBECONFIG=$tmp/owner.kubeconfig "$cluster/kubectl" -n "$ns" "$@"; }
	ks create deployment jm --image=flink:2.2 >/dev/null || die "the SA cannot create a Deployment"
	uid=$(ks get deployment jm -o jsonpath='{.metadata.uid}')
	owned_configmap by-deployment Deployment jm "$uid" | ks create -f - >/dev/null 2>"$tmp/err" ||
		die "blockOwnerDeletion on a Deployment (deployments/finalizers granted) refused: $(cat "$tmp/err")"
	ks run owner-pod --image=flink:2.2 --restart=Never >/dev/null || die "the SA cannot create a Pod"
	uid=$(ks get pod owner-pod -o jsonpath='{.metadata.uid}')
	if out=$(owned_configmap by-pod Pod owner-pod "$uid" | ks create -f - 2>&1); then
		die "blockOwnerDeletion on a Pod (no pods/finalizers) was allowed"
	fi
	[[ $out == *blockOwnerDeletion* || $out == *finalizers* ]] ||
		die "refused for another reason: $out"
}

test_deployment_controller_creates_replicaset_and_pods() {
	local ns owner
	ns=$(new_ns deploy) || exit 1
	k create deployment web --image=flink:2.2 --replicas=2 -n "$ns" >/dev/null || die "create deployment failed"
	eventually "$timeout_s" test -n "$(k get rs -n "$ns" -l app=web -o name 2>/dev/null)" ||
		die "no ReplicaSet for the Deployment within ${timeout_s}s"
	owner=$(k get rs -n "$ns" -l app=web -o jsonpath='{.items[0].metadata.ownerReferences[0].kind}/{.items[0].metadata.ownerReferences[0].name}')
	[[ $owner == Deployment/web ]] || die "ReplicaSet owner is '$owner'"
	pods() { [[ $(k get pods -n "$ns" -l app=web -o name | wc -l) -eq 2 ]]; }
	eventually "$timeout_s" pods || die "the ReplicaSet did not create 2 pods within ${timeout_s}s"
}

test_garbage_collector_deletes_dependents() {
	local ns uid
	ns=$(new_ns gc) || exit 1
	k create configmap owner -n "$ns" --from-literal=k=v >/dev/null || die "create owner failed"
	uid=$(k get configmap owner -n "$ns" -o jsonpath='{.metadata.uid}')
	owned_configmap dependent ConfigMap owner "$uid" | k create -n "$ns" -f - >/dev/null ||
		die "create dependent failed"
	k delete configmap owner -n "$ns" >/dev/null || die "delete owner failed"
	eventually "$timeout_s" gone configmap dependent -n "$ns" ||
		die "dependent ConfigMap still there ${timeout_s}s after its owner was deleted"
	# Foreground: the Deployment goes only after its ReplicaSet and pods.
	k create deployment web --image=flink:2.2 -n "$ns" >/dev/null || die "create deployment failed"
	eventually "$timeout_s" test -n "$(k get rs -n "$ns" -l app=web -o name 2>/dev/null)" ||
		die "no ReplicaSet within ${timeout_s}s"
	k delete deployment web -n "$ns" --cascade=foreground --timeout="${timeout_s}s" >/dev/null ||
		die "foreground deletion of the Deployment did not finish"
	eventually 10 test -z "$(k get rs,pods -n "$ns" -l app=web -o name 2>/dev/null)" ||
		die "ReplicaSet or pods left after the Deployment was deleted"
}

test_namespace_deletion_finishes() {
	local ns
	ns=$(new_ns nsdel) || exit 1
	k create configmap c -n "$ns" --from-literal=k=v >/dev/null &&
		k create secret generic s -n "$ns" --from-literal=k=v >/dev/null &&
		k create deployment d --image=flink:2.2 -n "$ns" >/dev/null || die "populating $ns failed"
	k delete namespace "$ns" --wait=false >/dev/null || die "delete namespace failed"
	eventually "$timeout_s" gone namespace "$ns" ||
		die "namespace $ns still there ${timeout_s}s after deletion ($(k get ns "$ns" -o jsonpath='{.status.phase}'))"
}

test_watch_from_compacted_revision_gets_410() {
	local ns old i rev code
	ns=$(new_ns watch) || exit 1
	k create configmap w -n "$ns" --from-literal=n=0 >/dev/null || die "create configmap failed"
	old=$(k get configmap w -n "$ns" -o jsonpath='{.metadata.resourceVersion}')
	for i in 1 2 3; do
		k patch configmap w -n "$ns" -p "{\"data\":{\"n\":\"$i\"}}" >/dev/null || die "patch failed"
	done
	rev=$(ETCDCTL_API=3 etcdctl --endpoints="$FLINKOP_ETCD_ENDPOINT" endpoint status -w json |
		grep -o '"revision":[0-9]*' | head -n1 | cut -d: -f2)
	[[ -n $rev ]] && ((rev > old)) || die "etcd revision '$rev' is not past the old resourceVersion $old"
	ETCDCTL_API=3 etcdctl --endpoints="$FLINKOP_ETCD_ENDPOINT" compact "$rev" >/dev/null ||
		die "etcdctl compact $rev failed"
	code=$(admin_curl --max-time 10 -o "$tmp/watch.out" -w '%{http_code}' \
		"$FLINKOP_APISERVER/api/v1/namespaces/$ns/configmaps?watch=1&resourceVersion=$old&timeoutSeconds=5")
	# 410 comes as the HTTP status or as an ERROR event inside a 200 stream.
	[[ $code == 410 ]] && return 0
	grep -q '"type":"ERROR"' "$tmp/watch.out" && grep -q '"code":410' "$tmp/watch.out" && return 0
	die "watch from resourceVersion $old after compaction to $rev: HTTP $code, body $(head -c 300 "$tmp/watch.out")"
}

tests=(
	test_ports_lie_outside_the_ephemeral_range
	test_apiserver_runs_the_pinned_release
	test_flink_crds_are_established_and_serve_basic_example
	test_flink_crd_schema_rejects_unknown_upgrade_mode
	test_flink_service_account_is_confined_to_its_namespace
	test_block_owner_deletion_needs_finalizers_permission
	test_deployment_controller_creates_replicaset_and_pods
	test_garbage_collector_deletes_dependents
	test_namespace_deletion_finishes
	test_watch_from_compacted_revision_gets_410
)

passed=0
failed=0
for t in "${tests[@]}"; do
	# Each test runs in a subshell: die ends only that test.
	if out=$("$t" 2>&1); then
		echo "ok - $t"
		passed=$((passed + 1))
	else
		echo "not ok - $t: $(printf '%s\n' "$out" | tail -n1)"
		printf '%s\n' "$out" | head -n -1 | sed 's/^/#   /'
		failed=$((failed + 1))
	fi
done

# Best effort: leave the cluster as we found it.
for ns in $(k get ns -o name 2>/dev/null | sed -n "s|^namespace/\($run_id-.*\)|\1|p"); do
	k delete namespace "$ns" --wait=false >/dev/null 2>&1
done
rm -rf "$tmp"

echo "$passed passed, $failed failed"
((failed == 0))
