#!/usr/bin/env bash
# The daemon observing Flink jobs through the JobManager's REST API, against the real control plane. The JobManager
# cannot run here, so tests/flink_rest_standin.py (a stand-in, answering in the shape of Flink's REST API) answers
# for it: `flinkop run --flink-rest-override http://127.0.0.1:PORT/{namespace}/{name}`. What a user sees in
# `kubectl get flinkdeployment`: a RUNNING job makes the deployment STABLE with the job's id, a FAILED one makes
# it FAILED with the job's exception, a JobManager that never answers is reported as unreachable while another
# FlinkDeployment keeps reconciling, a steady job costs no writes; a spec change of a savepoint job stops it with a
# savepoint and redeploys from it, once, even when the operator is killed in the middle; deleting a FlinkDeployment
# cancels its job before its objects go, deletes its HA ConfigMaps (and no others), and never waits on a JobManager
# that does not answer.
# Run under tests/cluster/with-cluster; needs build/asan/flinkop (make does it).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${FLINKOP_BIN:-$repo/build/asan/flinkop}
ref=$repo/../shared/reference/flink-kubernetes-operator
tmp=$(mktemp -d)
run=fr$$
a=$run-a b=$run-b c=$run-c
suite_namespaces=("$a" "$b" "$c")

finish() { suite_finish flink-rest; }
# shellcheck source=cluster_lib.sh
. "$repo/tests/cluster_lib.sh"

# standin METHOD NS [JSON]: the stand-in's control endpoint for basic-example in NS.
standin() { curl -fsS -X "$1" -H 'Content-Type: application/json' ${3:+--data "$3"} \
	"http://127.0.0.1:$sport/_standin/$2/basic-example"; }
# job_json ID STATE [EXCEPTION]: the stand-in's cluster with one job.
job_json() {
	printf '{"hang": false, "jobs": [{"jid": "%s", "name": "State machine job", "state": "%s", "start-time": %s%s}]}' \
		"$1" "$2" "$(date +%s000)" "${3:+, \"exception\": \"$3\"}"
}
# polls NS: how many times the daemon asked the stand-in for NS's jobs overview.
polls() { standin GET "$1" | python3 -c 'import json, sys
print(sum(r == "GET /jobs/overview" for r in json.load(sys.stdin)["requests"]))'; }
# job_id_of NS: the job id the operator fixed for the deployment ($internal.pipeline.job-id), which a JobManager
# would run its job under, so the stand-in lists the job under it.
job_id_of() { k -n "$1" get configmap flink-config-basic-example -o 'jsonpath={.data.config\.yaml}' 2>/dev/null |
	sed -n 's/^\$internal.pipeline.job-id: //p'; }
status_of() { k -n "$1" get flinkdeployment basic-example -o "jsonpath=$2" 2>/dev/null; }
# is NS JSONPATH VALUE: the FlinkDeployment's status field has that value now.
is() { [[ $(status_of "$1" "$2") == "$3" ]]; }
has_event() { k -n "$1" get events --field-selector "reason=$2" -o name | grep -q .; }
error_has() { [[ $(status_of "$1" '{.status.error}') == *"$2"* ]]; }
seconds_since() { awk -v t0="$1" -v t1="$EPOCHREALTIME" 'BEGIN { printf "%.1f", t1 - t0 }'; }

flink_standin_setup
k create namespace "$a" >/dev/null
k create namespace "$b" >/dev/null
k create namespace "$c" >/dev/null
standin PUT "$a" '{"jobs": []}' >/dev/null
# The README's example (examples/basic.yaml, upstream's basic.yaml): the issue's "done when".
k -n "$a" apply -f "$repo/examples/basic.yaml" >/dev/null

# daemon_start LOG: the daemon, pointed at the stand-in; sets daemon_pid and port.
daemon_start() {
	log=$1
	"$bin" run --kubeconfig "$KUBECONFIG" --script-dir "$repo" --operator-namespace "$a" --probe-address 127.0.0.1:0 \
		--flink-rest-override "http://127.0.0.1:$sport/{namespace}/{name}" --log-level debug >"$log" 2>&1 &
	daemon_pid=$!
	has_port() { [[ -n $(probe_port_in "$log") ]]; }
	eventually 10 has_port || { not_ok "the daemon starts" "$(tail -n 5 "$log")"; finish; }
	port=$(probe_port_in "$log")
}
daemon_start "$tmp/daemon.log"

# A JobManager that answers with no job yet: READY, the job still RECONCILING, the deployment DEPLOYED.
if eventually 30 is "$a" '{.status.jobManagerDeploymentStatus}/{.status.lifecycleState}' READY/DEPLOYED; then
	ok "a JobManager whose REST API answers is READY; with no job yet the deployment is DEPLOYED ($(status_of "$a" '{.status.jobStatus.state}'))"
else
	not_ok "a JobManager whose REST API answers is READY" "$(status_of "$a" '{.status}')"
fi

job_a=$(job_id_of "$a")
t0=$EPOCHREALTIME
standin PUT "$a" "$(job_json "$job_a" RUNNING)" >/dev/null
if eventually 30 is "$a" '{.status.lifecycleState}/{.status.jobStatus.state}/{.status.jobStatus.jobId}' \
	"STABLE/RUNNING/$job_a"; then
	ok "the job RUNNING makes the deployment STABLE with the job's id ($(seconds_since "$t0") s after the JobManager said so)"
else
	not_ok "the job RUNNING makes the deployment STABLE" "$(status_of "$a" '{.status}')"
fi
if [[ -n $(status_of "$a" '{.status.jobStatus.startTime}') && $(status_of "$a" '{.status.reconciliationStatus.lastStableSpec}') == \
	"$(status_of "$a" '{.status.reconciliationStatus.lastReconciledSpec}')" ]]; then
	ok "a stable job records its start time and the spec as the last stable one"
else
	not_ok "a stable job records its start time and the spec as the last stable one" "$(status_of "$a" '{.status}')"
fi
if eventually 10 has_event "$a" JobStatusChanged; then
	ok "the job's state change is a JobStatusChanged Event"
else
	not_ok "the job's state change is a JobStatusChanged Event"
fi

# Converged on a steady job: the observer keeps polling, the daemon writes nothing.
sleep 3
w1=$(writes_at "$port")
sleep 12
w2=$(writes_at "$port")
polls=$(polls "$a")
if [[ $w1 == "$w2" && $w1 -gt 0 ]]; then
	ok "a steady RUNNING job costs no API writes over 12 s ($polls REST polls so far)"
else
	not_ok "a steady RUNNING job costs no API writes" "writes went from $w1 to $w2"
fi

# A JobManager that accepts and never answers, while another FlinkDeployment arrives in another namespace.
standin PUT "$b" '{"jobs": []}' >/dev/null
standin PUT "$a" '{"hang": true}' >/dev/null
polls_a=$(polls "$a")
# Apply the other one while a poll of the hanging JobManager is in flight (the stand-in logs it, then hangs).
hung() { (($(polls "$a") > polls_a)); }
eventually 15 hung || not_ok "the daemon polls the hanging JobManager again within 15 s"
t0=$EPOCHREALTIME
k -n "$b" apply -f "$ref/examples/basic.yaml" >/dev/null
if eventually 20 k -n "$b" get deployment basic-example; then
	made_b=$(seconds_since "$t0")
	ok "while a JobManager hangs, another namespace's FlinkDeployment gets its Deployment in $made_b s"
else
	not_ok "while a JobManager hangs, another namespace's FlinkDeployment gets its Deployment"
fi
has_job_id() { [[ -n $(job_id_of "$b") ]]; }
eventually 10 has_job_id
job_b=$(job_id_of "$b")
t0=$EPOCHREALTIME
standin PUT "$b" "$(job_json "$job_b" RUNNING)" >/dev/null
if eventually 30 is "$b" '{.status.lifecycleState}/{.status.jobStatus.jobId}' "STABLE/$job_b"; then
	ok "... and reaches STABLE with its own job ($(seconds_since "$t0") s after its JobManager said RUNNING)"
else
	not_ok "... and reaches STABLE with its own job" "$(status_of "$b" '{.status}')"
fi
if eventually 30 error_has "$a" "JobManager REST API unreachable since"; then
	ok "the hanging JobManager is reported: $(status_of "$a" '{.status.jobManagerDeploymentStatus}'), job $(status_of "$a" '{.status.jobStatus.state}'), error \"unreachable since ...: $(status_of "$a" '{.status.error}' | grep -o 'timed out\|Timeout[^"]*' | head -n 1)\""
else
	not_ok "the hanging JobManager is reported as unreachable" "$(status_of "$a" '{.status}')"
fi
if ! is "$a" '{.status.jobManagerDeploymentStatus}' READY && is "$a" '{.status.jobStatus.state}' RECONCILING &&
	has_event "$a" JobManagerUnreachable; then
	ok "an unreachable JobManager is not READY, its job RECONCILING, with a JobManagerUnreachable Warning"
else
	not_ok "an unreachable JobManager is not READY, its job RECONCILING" "$(status_of "$a" '{.status}')"
fi
if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null; then
	ok "the daemon stays ready while a JobManager hangs"
else
	not_ok "the daemon stays ready while a JobManager hangs"
fi

# It answers again: back to STABLE, the error gone.
t0=$EPOCHREALTIME
standin PUT "$a" '{"hang": false}' >/dev/null
if eventually 30 is "$a" '{.status.lifecycleState}/{.status.jobStatus.state}/{.status.error}' "STABLE/RUNNING/"; then
	ok "a JobManager answering again is STABLE and the error is gone ($(seconds_since "$t0") s)"
else
	not_ok "a JobManager answering again is STABLE and the error is gone" "$(status_of "$a" '{.status}')"
fi

# The job fails: the deployment FAILED, status.error the job's exception.
t0=$EPOCHREALTIME
standin PUT "$a" "$(job_json "$job_a" FAILED 'java.lang.IllegalStateException: the source broke')" >/dev/null
if eventually 30 is "$a" '{.status.lifecycleState}/{.status.jobStatus.state}' FAILED/FAILED &&
	eventually 10 error_has "$a" 'the source broke'; then
	ok "the job FAILED makes the deployment FAILED with the job's exception ($(seconds_since "$t0") s): $(status_of "$a" '{.status.error}' | grep -o '"type":"[^"]*"')"
else
	not_ok "the job FAILED makes the deployment FAILED with the job's exception" "$(status_of "$a" '{.status}')"
fi

# --- a savepoint upgrade: stop with a savepoint, redeploy from it -------------------------------------------------
sed -e 's/upgradeMode: stateless/upgradeMode: savepoint/' \
	-e 's|taskmanager.numberOfTaskSlots: "*2"*|&\n    state.savepoints.dir: file:///flink-savepoints\n    state.checkpoints.dir: file:///flink-checkpoints|' \
	"$ref/examples/basic.yaml" >"$tmp/savepoint.yaml"
standin PUT "$c" '{"jobs": [], "savepoint_seconds": 3}' >/dev/null
k -n "$c" apply -f "$tmp/savepoint.yaml" >/dev/null
has_job_id() { [[ -n $(job_id_of "$c") ]]; }
eventually 20 has_job_id
job_c1=$(job_id_of "$c")
standin PUT "$c" "$(job_json "$job_c1" RUNNING)" >/dev/null
eventually 30 is "$c" '{.status.lifecycleState}/{.status.jobStatus.jobId}' "STABLE/$job_c1" ||
	not_ok "a savepoint job becomes STABLE" "$(status_of "$c" '{.status}')"
config_of() { k -n "$c" get configmap flink-config-basic-example -o 'jsonpath={.data.config\.yaml}'; }
restored_from() { config_of | sed -n 's/^execution.savepoint.path: //p'; }
dep_generation() { k -n "$c" get deployment basic-example -o 'jsonpath={.metadata.generation}'; }
taken() { standin GET "$c" | python3 -c 'import json, sys; print(json.load(sys.stdin)["savepoints_taken"])'; }
stops() { standin GET "$c" | python3 -c 'import json, sys
print(sum(r == "POST /jobs/'"$1"'/stop" for r in json.load(sys.stdin)["requests"]))'; }
trigger() { status_of "$c" '{.status.jobStatus.savepointInfo.triggerId}'; }

gen0=$(dep_generation)
t0=$EPOCHREALTIME
k -n "$c" patch flinkdeployment basic-example --type merge -p '{"spec": {"job": {"parallelism": 3}}}' >/dev/null
if eventually 15 is "$c" '{.status.lifecycleState}/{.status.reconciliationStatus.state}' UPGRADING/UPGRADING &&
	[[ $(trigger) =~ ^[0-9a-f]{32}$ ]]; then
	ok "a spec change of a savepoint job is recorded as UPGRADING with its savepoint trigger ($(trigger))"
else
	not_ok "a spec change of a savepoint job is recorded as UPGRADING" "$(status_of "$c" '{.status}')"
fi
redeployed() { [[ -n $(restored_from) && $(status_of "$c" '{.status.jobStatus.upgradeSavepointPath}') == "$(restored_from)" ]]; }
if eventually 30 redeployed; then
	ok "the job is stopped with a savepoint and redeployed from it in $(seconds_since "$t0") s (the stand-in takes 3 s): $(restored_from)"
else
	not_ok "the job is stopped with a savepoint and redeployed from it" "config: '$(restored_from)' status: $(status_of "$c" '{.status}')"
fi
if [[ $(taken) == 1 && $(stops "$job_c1") -ge 1 && $(dep_generation) == $((gen0 + 1)) && $(job_id_of "$c") != "$job_c1" ]] &&
	is "$c" '{.status.reconciliationStatus.state}/{.status.jobStatus.state}' DEPLOYED/RECONCILING; then
	ok "one savepoint, one rollout of the JobManager Deployment (generation $gen0 -> $(dep_generation)) with a new job id; the new job is awaited"
else
	not_ok "one savepoint, one rollout" "savepoints $(taken), stops $(stops "$job_c1"), generation $gen0 -> $(dep_generation), $(status_of "$c" '{.status}')"
fi
job_c2=$(job_id_of "$c")
standin PUT "$c" "$(job_json "$job_c2" RUNNING)" >/dev/null
if eventually 30 is "$c" '{.status.lifecycleState}/{.status.jobStatus.jobId}' "STABLE/$job_c2"; then
	ok "the upgraded job RUNNING makes the deployment STABLE again with the new job's id"
else
	not_ok "the upgraded job RUNNING makes the deployment STABLE again" "$(status_of "$c" '{.status}')"
fi

# --- the same, with the operator killed (SIGKILL) while the savepoint is being taken ----------------------------
standin PUT "$c" '{"savepoint_seconds": 8}' >/dev/null
gen0=$(dep_generation) taken0=$(taken)
k -n "$c" patch flinkdeployment basic-example --type merge -p '{"spec": {"job": {"parallelism": 4}}}' >/dev/null
stopping() { [[ $(trigger) =~ ^[0-9a-f]{32}$ && $(stops "$job_c2") -ge 1 ]]; }
if eventually 15 stopping; then
	killed_trigger=$(trigger)
	kill -9 "$daemon_pid"
	wait "$daemon_pid" 2>/dev/null
	ok "the operator is killed while the savepoint ($killed_trigger) is in progress"
else
	not_ok "the operator is killed while the savepoint is in progress" "$(status_of "$c" '{.status}')"
fi
t0=$EPOCHREALTIME
daemon_start "$tmp/daemon-restarted.log"
upgraded() { [[ -n $(restored_from) && $(restored_from) == *"${killed_trigger: -8}" ]]; }
if eventually 40 upgraded && eventually 10 is "$c" '{.status.reconciliationStatus.state}' DEPLOYED; then
	ok "the restarted operator finishes that upgrade from that savepoint ($(seconds_since "$t0") s after the restart)"
else
	not_ok "the restarted operator finishes that upgrade" "config: '$(restored_from)', status: $(status_of "$c" '{.status}')"
fi
if [[ $(taken) == $((taken0 + 1)) && $(dep_generation) == $((gen0 + 1)) ]]; then
	ok "... once: one more savepoint (the trigger was sent $(stops "$job_c2") times, Flink took it once), one rollout"
else
	not_ok "... once" "savepoints $taken0 -> $(taken), generation $gen0 -> $(dep_generation)"
fi

# --- deletion: the job is cancelled, the objects go, then the finalizer -------------------------------------------
if [[ $(k -n "$c" get flinkdeployment basic-example -o 'jsonpath={.metadata.finalizers}') == *flinkdeployments.flink.apache.org/finalizer* ]]; then
	ok "the operator puts its finalizer on the FlinkDeployment"
else
	not_ok "the operator puts its finalizer on the FlinkDeployment" "$(k -n "$c" get flinkdeployment basic-example -o 'jsonpath={.metadata}')"
fi
job_c3=$(job_id_of "$c")
standin PUT "$c" "$(job_json "$job_c3" RUNNING)" >/dev/null
eventually 30 is "$c" '{.status.lifecycleState}/{.status.jobStatus.jobId}' "STABLE/$job_c3" ||
	not_ok "the upgraded job runs before the deletion" "$(status_of "$c" '{.status}')"
cancels() { standin GET "$1" | python3 -c 'import json, sys
print(sum(r == "PATCH /jobs/'"$2"'?mode=cancel" for r in json.load(sys.stdin)["requests"]))'; }
gone() { ! k -n "$1" get flinkdeployment basic-example >/dev/null 2>&1; }
objects_gone() { [[ -z $(k -n "$1" get deployment,service,configmap -l app=basic-example -o name 2>/dev/null) ]]; }
# ha_configmap NAME APP: a ConfigMap as Flink's Kubernetes HA services label theirs (the JobManager makes them).
ha_configmap() {
	k -n "$c" create configmap "$1" --from-literal=leader=x >/dev/null &&
		k -n "$c" label configmap "$1" "app=$2" configmap-type=high-availability type=flink-native-kubernetes >/dev/null
}
ha_configmap basic-example-cluster-config-map basic-example
ha_configmap "basic-example-$job_c3-config-map" basic-example
ha_configmap other-example-cluster-config-map other-example
k -n "$c" create configmap basic-example-notes --from-literal=note=keep >/dev/null
t0=$EPOCHREALTIME
k -n "$c" delete flinkdeployment basic-example --wait=false >/dev/null
if eventually 30 gone "$c"; then
	took=$(seconds_since "$t0")
	if [[ $(cancels "$c" "$job_c3") -ge 1 ]] && standin GET "$c" | grep -q '"state": "CANCELED"' && eventually 10 objects_gone "$c"; then
		ok "deleting it cancels the running job through the REST API, then the objects and the FlinkDeployment go ($took s)"
	else
		not_ok "deleting it cancels the job, then the objects go" "cancels $(cancels "$c" "$job_c3"), left: $(k -n "$c" get deployment,service,configmap -l app=basic-example -o name)"
	fi
	ha_left() { k -n "$c" get configmap -l configmap-type=high-availability -o name; }
	if eventually 10 objects_gone "$c" && [[ $(ha_left) == configmap/other-example-cluster-config-map ]] &&
		k -n "$c" get configmap basic-example-notes >/dev/null 2>&1; then
		ok "... and its two HA ConfigMaps with it; another cluster's HA ConfigMap and an unlabelled one stay"
	else
		not_ok "its HA ConfigMaps go, the others stay" "HA left: $(ha_left | tr '\n' ' '), all: $(k -n "$c" get configmap -o name | tr '\n' ' ')"
	fi
else
	not_ok "deleting a FlinkDeployment with a running job completes" "$(k -n "$c" get flinkdeployment basic-example -o 'jsonpath={.metadata} {.status.lifecycleState}')"
fi
standin PUT "$b" '{"hang": true}' >/dev/null
t0=$EPOCHREALTIME
k -n "$b" delete flinkdeployment basic-example --wait=false >/dev/null
if eventually 45 gone "$b" && eventually 10 objects_gone "$b"; then
	ok "a FlinkDeployment whose JobManager never answers is deleted all the same, in $(seconds_since "$t0") s (bound: 30 s)"
else
	not_ok "a FlinkDeployment whose JobManager never answers is deleted" "$(k -n "$b" get flinkdeployment basic-example -o 'jsonpath={.metadata} {.status.lifecycleState}')"
fi

daemon_sigterm_check
finish
