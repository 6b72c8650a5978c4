#!/usr/bin/env bash
# What a user asks of a running FlinkDeployment's job, against the real control plane, with
# tests/flink_rest_standin.py (a stand-in for the JobManager's REST API) answering for the JobManager:
# - spec.restartNonce: a stateless job is redeployed once, with a new job id (one rollout of its Deployment);
# - spec.job.savepointTriggerNonce: one savepoint of the running job, which keeps running (no stop, no rollout), its
#   location in status.jobStatus.savepointInfo.lastSavepoint; taken once even when the operator is killed while it
#   is taken and the JobManager has forgotten the trigger by the time the operator is back (found in
#   GET /jobs/:jobid/checkpoints), and so is the stop of a savepoint upgrade;
# - job.state suspended then running on a savepoint job: stopped with one savepoint, the JobManager Deployment gone,
#   SUSPENDED; resumed from that savepoint (execution.savepoint.path), DEPLOYED, then STABLE;
# - spec.job.checkpointTriggerNonce: one checkpoint of the running job (POST /jobs/:jobid/checkpoints), which keeps
#   running (no stop, no savepoint, no rollout), recorded in status.jobStatus.checkpointInfo.lastCheckpoint;
# - spec.job.savepointRedeployNonce with a new initialSavepointPath: the savepoint job redeployed once from that path
#   (execution.savepoint.path), with a new job id and no savepoint taken.
# Run under tests/cluster/with-cluster; needs build/asan/flinkop (make does it).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${FLINKOP_BIN:-$repo/build/asan/flinkop}
ref=$repo/../shared/reference/flink-kubernetes-operator
tmp=$(mktemp -d)
run=fa$$
a=$run-restart b=$run-savepoint c=$run-suspend

finish() {
	[[ -n ${daemon_pid:-} ]] && kill -9 "$daemon_pid" 2>/dev/null
	# the daemon's logs outlive a failed run, for the post-mortem
	((failed > 0)) && mkdir -p "${TMPDIR:-/tmp}/$run-logs" && cp "$tmp"/daemon*.log "${TMPDIR:-/tmp}/$run-logs/" &&
		echo "# daemon logs kept in ${TMPDIR:-/tmp}/$run-logs"
	[[ -n ${standin_pid:-} ]] && kill "$standin_pid" 2>/dev/null
	k delete namespace "$a" "$b" "$c" --wait=false >/dev/null 2>&1
	[[ -n ${d:-} ]] && k delete namespace "$d" --wait=false >/dev/null 2>&1
	suite_end flink-actions
}
# shellcheck source=cluster_lib.sh
. "$repo/tests/cluster_lib.sh"

# standin METHOD NS [JSON]: the stand-in's control endpoint for basic-example in NS.
standin() { curl -fsS -X "$1" -H 'Content-Type: application/json' ${3:+--data "$3"} \
	"http://127.0.0.1:$sport/_standin/$2/basic-example"; }
# standin_says NS PYTHON-EXPR: the expression over the stand-in's cluster `c` (requests, savepoints_taken, ...).
standin_says() { standin GET "$1" | python3 -c 'import json, sys
c = json.load(sys.stdin)
print('"$2"')'; }
# requests NS TEXT: how many requests the stand-in got for NS that are exactly TEXT.
requests() { standin_says "$1" 'sum(r == "'"$2"'" for r in c["requests"])'; }
taken() { standin_says "$1" 'c["savepoints_taken"]'; }
running_job() { printf '{"hang": false, "jobs": [{"jid": "%s", "name": "State machine job", "state": "RUNNING", "start-time": %s}]}' \
	"$1" "$(date +%s000)"; }
job_state() { standin_says "$1" '[j["state"] for j in c["jobs"] if j["jid"] == "'"$2"'"][0]'; }
config_of() { k -n "$1" get configmap flink-config-basic-example -o 'jsonpath={.data.config\.yaml}' 2>/dev/null; }
job_id_of() { config_of "$1" | sed -n 's/^\$internal.pipeline.job-id: //p'; }
restored_from() { config_of "$1" | sed -n 's/^execution.savepoint.path: //p'; }
dep_generation() { k -n "$1" get deployment basic-example -o 'jsonpath={.metadata.generation}' 2>/dev/null; }
status_of() { k -n "$1" get flinkdeployment basic-example -o "jsonpath=$2" 2>/dev/null; }
is() { [[ $(status_of "$1" "$2") == "$3" ]]; }
has_job_id() { [[ -n $(job_id_of "$1") ]]; }
no_deployment() { ! k -n "$1" get deployment basic-example >/dev/null 2>&1; }
seconds_since() { awk -v t0="$1" -v t1="$EPOCHREALTIME" 'BEGIN { printf "%.1f", t1 - t0 }'; }
patch() { k -n "$1" patch flinkdeployment basic-example --type merge -p "$2" >/dev/null; }

start_daemon() {
	daemon_start "$1" --kubeconfig "$KUBECONFIG" --script-dir "$repo" --operator-namespace "$a" \
		--flink-rest-override "http://127.0.0.1:$sport/{namespace}/{name}" --log-level debug ||
		{ not_ok "the daemon starts" "$(tail -n 5 "$1")"; finish; }
}
# stable NS FILE: applies FILE in NS and runs its job: STABLE with the job the operator fixed, whose id it puts in
# `job` (in this shell, so that a failure here is counted).
stable() {
	job=
	standin PUT "$1" '{"jobs": [], "savepoint_seconds": 3}' >/dev/null
	k -n "$1" apply -f "$2" >/dev/null
	eventually 30 has_job_id "$1" || { not_ok "$1: the objects are made" "$(status_of "$1" '{.status}')"; return 1; }
	job=$(job_id_of "$1")
	standin PUT "$1" "$(running_job "$job")" >/dev/null
	eventually 30 is "$1" '{.status.lifecycleState}/{.status.jobStatus.jobId}' "STABLE/$job" ||
		not_ok "$1: the job becomes STABLE" "$(status_of "$1" '{.status}'), Deployment generation/observed: $(k -n "$1" get deployment basic-example -o 'jsonpath={.metadata.generation}/{.status.observedGeneration}'), jobs overview polls: $(requests "$1" "GET /jobs/overview")"
}

flink_standin_setup
for ns in "$a" "$b" "$c"; do k create namespace "$ns" >/dev/null; done
sed -e 's/upgradeMode: stateless/upgradeMode: savepoint/' \
	-e 's|taskmanager.numberOfTaskSlots: "*2"*|&\n    state.savepoints.dir: file:///flink-savepoints\n    state.checkpoints.dir: file:///flink-checkpoints|' \
	"$ref/examples/basic.yaml" >"$tmp/savepoint.yaml"
start_daemon "$tmp/daemon.log"

# --- restartNonce on a stateless job ------------------------------------------------------------------------------
stable "$a" "$ref/examples/basic.yaml"
job_a1=$job
gen0=$(dep_generation "$a")
t0=$EPOCHREALTIME
patch "$a" '{"spec": {"restartNonce": 1}}'
new_job() { [[ -n $(job_id_of "$a") && $(job_id_of "$a") != "$job_a1" ]]; }
if eventually 20 new_job && eventually 10 is "$a" '{.status.jobStatus.jobId}' "$(job_id_of "$a")"; then
	ok "a restartNonce bump redeploys the stateless job with a new job id in $(seconds_since "$t0") s ($job_a1 -> $(job_id_of "$a"))"
else
	not_ok "a restartNonce bump redeploys the stateless job with a new job id" "$(status_of "$a" '{.status}')"
fi
job_a2=$(job_id_of "$a")
standin PUT "$a" "$(running_job "$job_a2")" >/dev/null
eventually 30 is "$a" '{.status.lifecycleState}/{.status.jobStatus.jobId}' "STABLE/$job_a2"
sleep 4 # a second pass that rolled it again would show by now
if [[ $(dep_generation "$a") == $((gen0 + 1)) && $(job_id_of "$a") == "$job_a2" ]] &&
	is "$a" '{.status.lifecycleState}' STABLE && [[ $(requests "$a" "POST /jobs/$job_a1/stop") == 0 ]]; then
	ok "... once: one rollout of the JobManager Deployment (generation $gen0 -> $(dep_generation "$a")), no savepoint, STABLE again with the new job"
else
	not_ok "... once" "generation $gen0 -> $(dep_generation "$a"), job $(job_id_of "$a"), $(status_of "$a" '{.status.lifecycleState}')"
fi

# --- savepointTriggerNonce: a savepoint of the running job ---------------------------------------------------------
stable "$b" "$tmp/savepoint.yaml"
job_b=$job
gen0=$(dep_generation "$b")
t0=$EPOCHREALTIME
patch "$b" '{"spec": {"job": {"savepointTriggerNonce": 1}}}'
last_nonce() { status_of "$b" '{.status.jobStatus.savepointInfo.lastSavepoint.triggerNonce}'; }
location() { status_of "$b" '{.status.jobStatus.savepointInfo.lastSavepoint.location}'; }
nonce_is() { [[ $(last_nonce) == "$1" && -n $(location) ]]; }
if eventually 30 nonce_is 1; then
	ok "a savepointTriggerNonce bump records the savepoint in the status in $(seconds_since "$t0") s (the stand-in takes 3 s): $(location), $(status_of "$b" '{.status.jobStatus.savepointInfo.lastSavepoint.triggerType}')"
else
	not_ok "a savepointTriggerNonce bump records the savepoint in the status" "$(status_of "$b" '{.status}')"
fi
sleep 4
if [[ $(taken "$b") == 1 && $(requests "$b" "POST /jobs/$job_b/stop") == 0 && $(job_state "$b" "$job_b") == RUNNING &&
	$(dep_generation "$b") == "$gen0" && $(job_id_of "$b") == "$job_b" ]] &&
	is "$b" '{.status.lifecycleState}/{.status.jobStatus.state}/{.status.jobStatus.savepointInfo.triggerId}' STABLE/RUNNING/; then
	ok "... one savepoint ($(requests "$b" "POST /jobs/$job_b/savepoints") trigger request(s)), the job keeps running: no stop, no rollout (generation $gen0), the same job id, STABLE"
else
	not_ok "... one savepoint, the job keeps running" "taken $(taken "$b"), stops $(requests "$b" "POST /jobs/$job_b/stop"), job $(job_state "$b" "$job_b"), generation $gen0 -> $(dep_generation "$b"), $(status_of "$b" '{.status}')"
fi

# The operator killed while the next one is taken; the JobManager forgets the finished trigger before it is back.
standin PUT "$b" '{"savepoint_seconds": 4}' >/dev/null
first=$(location)
patch "$b" '{"spec": {"job": {"savepointTriggerNonce": 2}}}'
triggered() { [[ $(taken "$b") == 2 ]]; }
if eventually 15 triggered; then
	kill -9 "$daemon_pid"
	wait "$daemon_pid" 2>/dev/null
	daemon_pid=
	done_in_standin() { [[ $(standin_says "$b" 'len(c["completed_savepoints"])') == 2 ]]; }
	eventually 15 done_in_standin
	standin PUT "$b" '{"forget_triggers": true}' >/dev/null
	forgotten=$(standin_says "$b" 'c["completed_savepoints"][-1]["external_path"]')
	trigger=$(status_of "$b" '{.status.jobStatus.savepointInfo.triggerId}')
	gone=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$sport/$b/basic-example/jobs/$job_b/savepoints/$trigger")
	ok "the operator is killed while manual savepoint $trigger is taken; it completes, and the stand-in forgets it (HTTP $gone)"
	t0=$EPOCHREALTIME
	start_daemon "$tmp/daemon-restarted.log"
	if eventually 30 nonce_is 2 && [[ $(location) == "$forgotten" && $(location) != "$first" ]]; then
		ok "the restarted operator finds it in GET /jobs/:jobid/checkpoints and records it in $(seconds_since "$t0") s: $(location)"
	else
		not_ok "the restarted operator finds the forgotten savepoint in /checkpoints" "expected $forgotten, $(status_of "$b" '{.status}')"
	fi
	if [[ $(taken "$b") == 2 && $(requests "$b" "GET /jobs/$job_b/checkpoints") -ge 1 && $(job_state "$b" "$job_b") == RUNNING ]] &&
		[[ $(status_of "$b" '{.status.jobStatus.savepointInfo.savepointHistory[*].triggerNonce}') == "1 2" ]]; then
		ok "... without a second savepoint: 2 taken for 2 nonces, history nonces 1 2, the job still RUNNING"
	else
		not_ok "... without a second savepoint" "taken $(taken "$b"), history $(status_of "$b" '{.status.jobStatus.savepointInfo.savepointHistory}')"
	fi
else
	not_ok "the second manual savepoint is triggered" "taken $(taken "$b"), $(status_of "$b" '{.status}')"
fi

# The same for the stop of a savepoint upgrade: the operator killed while the job is stopped with a savepoint, the
# trigger forgotten by the time it is back; it finds the savepoint in /checkpoints and redeploys from it.
standin PUT "$b" '{"savepoint_seconds": 4}' >/dev/null
taken0=$(taken "$b") lookups0=$(requests "$b" "GET /jobs/$job_b/checkpoints") gen0=$(dep_generation "$b")
patch "$b" '{"spec": {"job": {"parallelism": 3}}}'
stop_sent() { [[ $(requests "$b" "POST /jobs/$job_b/stop") -ge 1 && $(taken "$b") == $((taken0 + 1)) ]]; }
if eventually 15 stop_sent; then
	kill -9 "$daemon_pid"
	wait "$daemon_pid" 2>/dev/null
	daemon_pid=
	stopped() { [[ $(job_state "$b" "$job_b") == FINISHED ]]; }
	eventually 15 stopped
	standin PUT "$b" '{"forget_triggers": true}' >/dev/null
	stop_savepoint=$(standin_says "$b" 'c["completed_savepoints"][-1]["external_path"]')
	t0=$EPOCHREALTIME
	start_daemon "$tmp/daemon-restarted-2.log"
	upgraded() { [[ $(restored_from "$b") == "$stop_savepoint" ]] && is "$b" '{.status.reconciliationStatus.state}' DEPLOYED; }
	if eventually 40 upgraded && [[ $(taken "$b") == $((taken0 + 1)) && $(dep_generation "$b") == $((gen0 + 1)) &&
		$(requests "$b" "GET /jobs/$job_b/checkpoints") -gt $lookups0 ]]; then
		ok "a savepoint upgrade whose stop Flink forgot while the operator was down is finished from the savepoint found in /checkpoints ($(seconds_since "$t0") s after the restart): one savepoint, one rollout"
	else
		not_ok "a savepoint upgrade whose stop Flink forgot is finished from /checkpoints" "expected $stop_savepoint, config '$(restored_from "$b")', taken $taken0 -> $(taken "$b"), generation $gen0 -> $(dep_generation "$b"), $(status_of "$b" '{.status}')"
	fi
else
	not_ok "the savepoint upgrade stops the job" "$(status_of "$b" '{.status}')"
fi

# --- suspend and resume a savepoint job ---------------------------------------------------------------------------
stable "$c" "$tmp/savepoint.yaml"
job_c1=$job
t0=$EPOCHREALTIME
patch "$c" '{"spec": {"job": {"state": "suspended"}}}'
suspended() { is "$c" '{.status.lifecycleState}/{.status.jobStatus.state}' SUSPENDED/SUSPENDED && no_deployment "$c"; }
if eventually 40 suspended; then
	sp=$(status_of "$c" '{.status.jobStatus.upgradeSavepointPath}')
	ok "suspending the savepoint job stops it with a savepoint and removes its JobManager Deployment in $(seconds_since "$t0") s: SUSPENDED, $sp"
else
	not_ok "suspending the savepoint job" "$(status_of "$c" '{.status}'), deployment: $(k -n "$c" get deployment -o name)"
fi
if [[ $(taken "$c") == 1 && $(requests "$c" "POST /jobs/$job_c1/stop") -ge 1 && $(job_state "$c" "$job_c1") == FINISHED && -n ${sp:-} ]] &&
	is "$c" '{.status.jobManagerDeploymentStatus}' MISSING; then
	ok "... with one savepoint: the job FINISHED, jobManagerDeploymentStatus MISSING"
else
	not_ok "... with one savepoint" "taken $(taken "$c"), job $(job_state "$c" "$job_c1"), $(status_of "$c" '{.status}')"
fi
t0=$EPOCHREALTIME
patch "$c" '{"spec": {"job": {"state": "running"}}}'
resumed() { [[ -n $(restored_from "$c") ]] && k -n "$c" get deployment basic-example >/dev/null 2>&1; }
if eventually 30 resumed && [[ $(restored_from "$c") == "${sp:-}" ]] &&
	is "$c" '{.status.lifecycleState}/{.status.jobStatus.state}' DEPLOYED/RECONCILING; then
	ok "resuming it redeploys from that savepoint in $(seconds_since "$t0") s: execution.savepoint.path $(restored_from "$c"), DEPLOYED"
else
	not_ok "resuming it redeploys from that savepoint" "config: '$(restored_from "$c")', savepoint '${sp:-}', $(status_of "$c" '{.status}')"
fi
job_c2=$(job_id_of "$c")
standin PUT "$c" "$(running_job "$job_c2")" >/dev/null
if [[ $job_c2 != "$job_c1" ]] && eventually 30 is "$c" '{.status.lifecycleState}/{.status.jobStatus.jobId}' "STABLE/$job_c2" &&
	[[ $(taken "$c") == 1 ]]; then
	ok "... and its job RUNNING makes it STABLE again with the new job id; still one savepoint in all"
else
	not_ok "... and STABLE again" "taken $(taken "$c"), $(status_of "$c" '{.status}')"
fi

# --- checkpointTriggerNonce, then savepointRedeployNonce, on a savepoint job ----------------------------------------
d=$run-nonces
k create namespace "$d" >/dev/null
stable "$d" "$tmp/savepoint.yaml"
job_d=$job
gen0=$(dep_generation "$d")
t0=$EPOCHREALTIME
patch "$d" '{"spec": {"job": {"checkpointTriggerNonce": 1}}}'
checkpoints_taken() { standin_says "$d" 'c["checkpoints_taken"]'; }
checkpointed() { is "$d" '{.status.jobStatus.checkpointInfo.lastCheckpoint.triggerNonce}/{.status.jobStatus.checkpointInfo.lastCheckpoint.triggerType}' 1/MANUAL; }
if eventually 30 checkpointed; then
	ok "a checkpointTriggerNonce bump records the checkpoint in status.jobStatus.checkpointInfo in $(seconds_since "$t0") s: $(status_of "$d" '{.status.jobStatus.checkpointInfo.lastCheckpoint}')"
else
	not_ok "a checkpointTriggerNonce bump records the checkpoint in the status" "$(status_of "$d" '{.status}')"
fi
sleep 3 # a second trigger would show by now
if [[ $(checkpoints_taken) == 1 && $(standin_says "$d" '[o["type"] for o in c["checkpoint_operations"].values()]') == "['FULL']" &&
	$(taken "$d") == 0 && $(requests "$d" "POST /jobs/$job_d/stop") == 0 && $(job_state "$d" "$job_d") == RUNNING &&
	$(dep_generation "$d") == "$gen0" && $(job_id_of "$d") == "$job_d" ]] &&
	is "$d" '{.status.lifecycleState}/{.status.jobStatus.state}/{.status.jobStatus.checkpointInfo.triggerId}' STABLE/RUNNING/; then
	ok "... one FULL checkpoint ($(requests "$d" "POST /jobs/$job_d/checkpoints") trigger request(s)), the job keeps running: no savepoint, no stop, no rollout (generation $gen0), the same job id, STABLE"
else
	not_ok "... one checkpoint, the job keeps running" "checkpoints $(checkpoints_taken), savepoints $(taken "$d"), stops $(requests "$d" "POST /jobs/$job_d/stop"), job $(job_state "$d" "$job_d"), generation $gen0 -> $(dep_generation "$d"), $(status_of "$d" '{.status}')"
fi

given=file:///flink-savepoints/savepoint-given-by-the-user
gen0=$(dep_generation "$d")
t0=$EPOCHREALTIME
patch "$d" '{"spec": {"job": {"initialSavepointPath": "'"$given"'", "savepointRedeployNonce": 1}}}'
redeployed() { [[ $(restored_from "$d") == "$given" && -n $(job_id_of "$d") && $(job_id_of "$d") != "$job_d" ]]; }
if eventually 20 redeployed && eventually 10 is "$d" '{.status.jobStatus.jobId}/{.status.jobStatus.upgradeSavepointPath}' "$(job_id_of "$d")/$given"; then
	ok "a savepointRedeployNonce bump redeploys the savepoint job from initialSavepointPath in $(seconds_since "$t0") s: execution.savepoint.path $(restored_from "$d"), job $job_d -> $(job_id_of "$d")"
else
	not_ok "a savepointRedeployNonce bump redeploys from initialSavepointPath" "config '$(restored_from "$d")', $(status_of "$d" '{.status}')"
fi
job_d2=$(job_id_of "$d")
standin PUT "$d" "$(running_job "$job_d2")" >/dev/null
eventually 30 is "$d" '{.status.lifecycleState}/{.status.jobStatus.jobId}' "STABLE/$job_d2"
sleep 3 # a second rollout would show by now
if [[ $(taken "$d") == 0 && $(requests "$d" "POST /jobs/$job_d/stop") == 0 && $(requests "$d" "POST /jobs/$job_d/savepoints") == 0 &&
	$(dep_generation "$d") == $((gen0 + 1)) && $(job_id_of "$d") == "$job_d2" && $(restored_from "$d") == "$given" ]] &&
	is "$d" '{.status.lifecycleState}' STABLE; then
	ok "... once, with no savepoint taken: one rollout (generation $gen0 -> $(dep_generation "$d")), no stop, STABLE with the new job"
else
	not_ok "... once, with no savepoint taken" "savepoints $(taken "$d"), stops $(requests "$d" "POST /jobs/$job_d/stop"), generation $gen0 -> $(dep_generation "$d"), $(status_of "$d" '{.status}')"
fi

daemon_sigterm_check
finish
