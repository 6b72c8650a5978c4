#!/usr/bin/env bash
# The RBAC model against the real control plane, acting as the ServiceAccounts rather than as admin:
# `flinkop install | kubectl apply --server-side -f -` installs the operator; the daemon, running with the operator
# ServiceAccount's own token, gives a new Flink namespace its `flink` ServiceAccount, Role and RoleBinding with no
# kubectl by hand; that account can do exactly the upstream job rules, verb by verb, and what a JobManager does
# (including an ownerReference with blockOwnerDeletion under OwnerReferencesPermissionEnforcement); namespaced
# scope manages only the watched namespaces; a labelled namespace keeps its objects until its last
# FlinkDeployment is gone.
# Run under tests/cluster/with-cluster; needs build/asan/flinkop (make does it).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${FLINKOP_BIN:-$repo/build/asan/flinkop}
ref=$repo/../shared/reference/flink-kubernetes-operator
here=$repo/tests/cluster
tmp=$(mktemp -d)
run=rb$$
pids=()
# The operators' own namespaces ($run-op, $run-nsop) go last: their ServiceAccounts are the daemons' identities.
suite_namespaces=("$run-a" "$run-lab" "$run-w1" "$run-w2" "$run-c")

finish() {
	daemon_pid=${pids[0]:-} # the daemon running now, if any
	namespaces_end
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	suite_finish rbac "$run-op" "$run-nsop"
}
# shellcheck source=cluster_lib.sh
. "$repo/tests/cluster_lib.sh"
# as SA CMD...: kubectl with the token of ServiceAccount SA in $run-a.
as() {
	local sa=$1
	shift
	"$KUBECTL" --kubeconfig "$tmp/$sa.kubeconfig" "$@"
}
has_port() { [[ -n $(probe_port_in "$1") ]]; }
# start_daemon NAME KUBECONFIG ARGS...: flinkop run in the background; sets port_NAME from its log.
start_daemon() {
	local name=$1 kc=$2
	shift 2
	"$bin" run --kubeconfig "$kc" --script-dir "$repo" --probe-address 127.0.0.1:0 --resync-interval 2 "$@" \
		>"$tmp/$name.log" 2>&1 &
	pids+=($!)
	eventually 10 has_port "$tmp/$name.log" || return 1
	printf -v "port_$name" '%s' "$(probe_port_in "$tmp/$name.log")"
}

[[ -n ${KUBECONFIG:-} && -n ${KUBECTL:-} ]] || { not_ok "environment" "run under tests/cluster/with-cluster"; finish; }
[[ -x $bin ]] || { not_ok "environment" "$bin is not built"; finish; }

# --- cluster scope: install, then run as the operator's ServiceAccount ---
if "$bin" install --script-dir "$repo" --operator-namespace "$run-op" >"$tmp/install.yaml" 2>"$tmp/install.err" &&
	k apply --server-side -f "$tmp/install.yaml" >"$tmp/apply.out" 2>&1 &&
	k wait --for condition=established crd --all --timeout=60s >/dev/null &&
	k -n "$run-op" get serviceaccount/flink-operator deployment/flinkop configmap/flinkop-policy >/dev/null &&
	k get clusterrole/flink-operator clusterrolebinding/flink-operator-role-binding >/dev/null; then
	ok "flinkop install | kubectl apply --server-side -f - installs CRDs, RBAC, Deployment and policy ConfigMap"
else
	not_ok "flinkop install | kubectl apply --server-side -f - installs the operator" "$(cat "$tmp/install.err"; tail -n 5 "$tmp/apply.out")"
	finish
fi
"$here/sa-kubeconfig" "$run-op" flink-operator "$tmp/operator.kubeconfig" >/dev/null ||
	{ not_ok "a token for the operator ServiceAccount"; finish; }
start_daemon op "$tmp/operator.kubeconfig" --operator-namespace "$run-op" ||
	{ not_ok "the daemon starts as the operator ServiceAccount" "$(tail -n 5 "$tmp/op.log")"; finish; }

k create namespace "$run-a" >/dev/null
k -n "$run-a" apply -f "$ref/examples/basic.yaml" >/dev/null
missing=""
for o in serviceaccount/flink role/flink rolebinding/flink-role-binding deployment/basic-example; do
	eventually 20 k -n "$run-a" get "$o" || missing="$missing $o"
done
if [[ -z $missing ]]; then
	ok "as the operator ServiceAccount, a new namespace with a FlinkDeployment gets its flink RBAC and JobManager"
else
	not_ok "as the operator ServiceAccount, the namespace gets its objects" "missing:$missing; $(grep -m3 'level=error\|403' "$tmp/op.log")"
fi
forbidden=$(metrics_at "$port_op" | awk '/^flinkop_api_requests_total/ && /code="403"/ { n += $NF } END { print n + 0 }')
((forbidden == 0)) && ok "the generated operator role is enough: no 403 in cluster scope" ||
	not_ok "the generated operator role is enough" "$forbidden requests refused; $(grep -m3 '403' "$tmp/op.log")"
# Roles are written before the bindings that name them, so converging logs no refused request at all.
grep -q 'level=error' "$tmp/op.log" && not_ok "converging logs no error" "$(grep -m2 'level=error' "$tmp/op.log")" ||
	ok "converging a new namespace logs no error (bindings wait for their Roles)"

# --- the flink ServiceAccount can do exactly the job rules, verb by verb ---
verbs=(get list watch create update patch delete deletecollection)
declare -A want=(
	[pods]="get list watch create update patch delete"
	[configmaps]="get list watch create update patch delete"
	[deployments.apps]="get list watch create update patch delete"
	[deployments.apps/finalizers]="get list watch create update patch delete"
	[services]="" [secrets]="" [events]="" [serviceaccounts]="" [roles.rbac.authorization.k8s.io]=""
	[replicasets.apps]="" [flinkdeployments.flink.apache.org]=""
)
diffs=""
for res in "${!want[@]}"; do
	resource=${res%%/*} sub=""
	[[ $res == */* ]] && sub=${res#*/}
	for v in "${verbs[@]}"; do
		args=("$v" "$resource" --as="system:serviceaccount:$run-a:flink" -n "$run-a")
		[[ -n $sub ]] && args+=(--subresource="$sub")
		if k auth can-i "${args[@]}" >/dev/null 2>&1; then got=yes; else got=no; fi
		[[ " ${want[$res]} " == *" $v "* ]] && expect=yes || expect=no
		[[ $got == "$expect" ]] || diffs="$diffs $v:$res=$got"
	done
done
[[ -z $diffs ]] && ok "kubectl auth can-i as the flink ServiceAccount matches the job rule set exactly" ||
	not_ok "kubectl auth can-i as the flink ServiceAccount matches the job rule set" "differences:$diffs"

# --- what a JobManager does, with the flink ServiceAccount's own token ---
"$here/sa-kubeconfig" "$run-a" flink "$tmp/flink.kubeconfig" >/dev/null
uid=$(k -n "$run-a" get deployment basic-example -o jsonpath='{.metadata.uid}')
cat >"$tmp/tm-pod.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: basic-example-taskmanager-1-1
  ownerReferences:
  - apiVersion: apps/v1
    kind: Deployment
    name: basic-example
    uid: $uid
    controller: true
    blockOwnerDeletion: true
spec:
  containers:
  - name: flink-main-container
    image: flink:1.20
EOF
if as flink -n "$run-a" create -f "$tmp/tm-pod.yaml" >"$tmp/pod.out" 2>&1; then
	ok "as flink: a TaskManager pod owned by the JobManager Deployment (blockOwnerDeletion) is admitted"
else
	not_ok "as flink: a TaskManager pod with blockOwnerDeletion is admitted" "$(cat "$tmp/pod.out")"
fi
# The control: without deployments/finalizers the same pod is refused, so the admission plugin really checks.
k -n "$run-a" create serviceaccount no-finalizers >/dev/null
k -n "$run-a" create role pods-only --verb=get,list,watch,create,update,patch,delete --resource=pods,deployments.apps \
	>/dev/null
k -n "$run-a" create rolebinding pods-only --role=pods-only --serviceaccount="$run-a:no-finalizers" >/dev/null
"$here/sa-kubeconfig" "$run-a" no-finalizers "$tmp/no-finalizers.kubeconfig" >/dev/null
sed 's/taskmanager-1-1/taskmanager-1-2/' "$tmp/tm-pod.yaml" >"$tmp/tm-pod2.yaml"
if ! as no-finalizers -n "$run-a" create -f "$tmp/tm-pod2.yaml" >"$tmp/pod2.out" 2>&1 &&
	grep -q "cannot set blockOwnerDeletion" "$tmp/pod2.out"; then
	ok "without deployments/finalizers the same pod is refused (OwnerReferencesPermissionEnforcement is on)"
else
	not_ok "without deployments/finalizers the same pod is refused" "$(cat "$tmp/pod2.out")"
fi
ha=basic-example-cluster-config-map
if as flink -n "$run-a" create configmap "$ha" --from-literal=leader=a >/dev/null 2>&1 &&
	as flink -n "$run-a" patch configmap "$ha" -p '{"data":{"leader":"b"}}' >/dev/null 2>&1 &&
	timeout 3 "$KUBECTL" --kubeconfig "$tmp/flink.kubeconfig" -n "$run-a" get configmap "$ha" --watch \
		-o name >"$tmp/watch.out" 2>&1
	[[ -s $tmp/watch.out ]] && grep -q "configmap/$ha" "$tmp/watch.out" &&
	as flink -n "$run-a" delete configmap "$ha" >/dev/null 2>&1 &&
	as flink -n "$run-a" get deployment basic-example >/dev/null 2>&1; then
	ok "as flink: HA ConfigMaps created, updated, watched and deleted; the JobManager Deployment readable"
else
	not_ok "as flink: HA ConfigMaps and the Deployment" "$(cat "$tmp/watch.out")"
fi
as flink -n "$run-a" delete pod basic-example-taskmanager-1-1 --wait=false >/dev/null 2>&1

# --- a labelled namespace keeps its objects until its last FlinkDeployment is gone ---
k create namespace "$run-lab" >/dev/null
k label namespace "$run-lab" flinkop.apache.org/flink-rbac=enabled >/dev/null
if eventually 10 k -n "$run-lab" get role flink; then
	ok "labelling a namespace in brings its flink objects within seconds"
else
	not_ok "labelling a namespace in brings its flink objects"
fi
k -n "$run-lab" apply -f "$ref/examples/basic.yaml" >/dev/null
eventually 20 k -n "$run-lab" get deployment basic-example
k label namespace "$run-lab" flinkop.apache.org/flink-rbac- >/dev/null
sleep 5 # two resyncs
if k -n "$run-lab" get role flink >/dev/null 2>&1 && k -n "$run-lab" get serviceaccount flink >/dev/null 2>&1; then
	ok "labelled out while a FlinkDeployment runs there: the flink objects stay"
else
	not_ok "labelled out while a FlinkDeployment runs there: the flink objects stay"
fi
k -n "$run-lab" delete flinkdeployment basic-example >/dev/null
if eventually 15 bash -c "! '$KUBECTL' --kubeconfig '$KUBECONFIG' -n '$run-lab' get role flink"; then
	ok "once its last FlinkDeployment is gone, the namespace's flink objects are pruned"
else
	not_ok "once its last FlinkDeployment is gone, the namespace's flink objects are pruned"
fi

k delete namespace "$run-a" --wait=false >/dev/null
if eventually 60 bash -c "! '$KUBECTL' --kubeconfig '$KUBECONFIG' get namespace '$run-a'"; then
	ok "a managed namespace deleted while the operator runs finishes terminating"
else
	not_ok "a managed namespace deleted while the operator runs finishes terminating"
fi
kill -TERM "${pids[0]}" && wait "${pids[0]}" 2>/dev/null
pids=()

# --- namespaced scope: only the watched namespaces, as that install's ServiceAccount ---
k create namespace "$run-w1" >/dev/null
k create namespace "$run-w2" >/dev/null
k create namespace "$run-c" >/dev/null
if "$bin" install --script-dir "$repo" --operator-namespace "$run-nsop" --watch-namespaces "$run-w1,$run-w2" \
	>"$tmp/install-ns.yaml" 2>"$tmp/install.err" && k apply --server-side -f "$tmp/install-ns.yaml" >"$tmp/apply.out" 2>&1 &&
	! grep -q "^kind: ClusterRole" "$tmp/install-ns.yaml"; then
	ok "a namespaced-scope install applies, with Roles and no ClusterRole"
else
	not_ok "a namespaced-scope install applies" "$(cat "$tmp/install.err"; tail -n 5 "$tmp/apply.out")"
fi
"$here/sa-kubeconfig" "$run-nsop" flink-operator "$tmp/nsop.kubeconfig" >/dev/null
for ns in "$run-w1" "$run-w2" "$run-c"; do k -n "$ns" apply -f "$ref/examples/basic.yaml" >/dev/null; done
start_daemon nsop "$tmp/nsop.kubeconfig" --operator-namespace "$run-nsop" --watch-namespaces "$run-w1,$run-w2" ||
	{ not_ok "the namespaced daemon starts" "$(tail -n 5 "$tmp/nsop.log")"; finish; }
missing=""
for ns in "$run-w1" "$run-w2"; do
	for o in role/flink deployment/basic-example; do
		eventually 20 k -n "$ns" get "$o" || missing="$missing $ns/$o"
	done
done
[[ -z $missing ]] && ok "namespaced scope: both watched namespaces get their objects" ||
	not_ok "namespaced scope: both watched namespaces get their objects" "missing:$missing"
sleep 4
refused=$(metrics_at "$port_nsop" | awk '/^flinkop_api_requests_total/ && /code="403"/ { n += $NF } END { print n + 0 }')
if ! k -n "$run-c" get role flink >/dev/null 2>&1 && ! k -n "$run-c" get deployment basic-example >/dev/null 2>&1 &&
	kill -0 "${pids[0]}" && ((refused == 0)) &&
	grep -q "msg=\"started\".*scope=namespaced" "$tmp/nsop.log"; then
	ok "a FlinkDeployment in an unwatched namespace is ignored: no objects, no crash, no 403"
else
	not_ok "a FlinkDeployment in an unwatched namespace is ignored" "403s: $refused; $(tail -n 3 "$tmp/nsop.log")"
fi
daemon_pid=${pids[0]}
namespaces_end
daemon_pid=
kill -TERM "${pids[0]}" && wait "${pids[0]}"
rc=$?
pids=()
((rc == 0)) && ok "the namespaced daemon stops cleanly (exit 0, no sanitizer report)" ||
	not_ok "the namespaced daemon stops cleanly" "exit $rc: $(grep -m3 -A3 Sanitizer "$tmp/nsop.log")"
finish
