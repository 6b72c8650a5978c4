#!/usr/bin/env bash
# FlinkSessionJobs run on their session cluster through its REST API, against the real control plane. The
# JobManager cannot run here, so tests/flink_rest_standin.py (a stand-in, answering in the shape of Flink's REST
# API) answers for it. Upstream's examples/basic-session-deployment-and-job.yaml: a session FlinkDeployment and two
# FlinkSessionJobs. The jar of one of them is on the session cluster (uploaded with POST /jars/upload, as `flink run`
# or the web UI put it there): it is run once under the job id the operator fixed, its status follows the job to
# STABLE, a restarted operator does not run it again, deleting it cancels the job. The other's jar is not there:
# its status says so and nothing runs.
# Run under tests/cluster/with-cluster; needs build/asan/flinkop (make does it).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${FLINKOP_BIN:-$repo/build/asan/flinkop}
ref=$repo/../shared/reference/flink-kubernetes-operator
tmp=$(mktemp -d)
ns=sj$$
session=basic-session-deployment-example
job=basic-session-job-example2 missing=basic-session-job-example
jar=flink-examples-streaming-2.2.0.jar
entry=org.apache.flink.streaming.examples.statemachine.StateMachineExample
suite_namespaces=("$ns")

finish() { suite_finish flink-session-job; }
# shellcheck source=cluster_lib.sh
. "$repo/tests/cluster_lib.sh"

cluster_url() { echo "http://127.0.0.1:$sport/$ns/$session"; }
standin() { curl -fsS -X "$1" -H 'Content-Type: application/json' ${2:+--data "$2"} "http://127.0.0.1:$sport/_standin/$ns/$session"; }
# from_standin PYTHON: evaluates PYTHON with `c`, the stand-in's view of the session cluster.
from_standin() { standin GET | python3 -c 'import json, sys; c = json.load(sys.stdin); print('"$1"')'; }
runs() { from_standin 'sum(r.startswith("POST /jars/") and r.endswith("/run") for r in c["requests"])'; }
sj() { k -n "$ns" get flinksessionjob "$1" -o "jsonpath=$2" 2>/dev/null; }
is() { [[ $(sj "$1" "$2") == "$3" ]]; }
gone() { ! k -n "$ns" get flinksessionjob "$1" >/dev/null 2>&1; }
seconds_since() { awk -v t0="$1" -v t1="$EPOCHREALTIME" 'BEGIN { printf "%.1f", t1 - t0 }'; }

flink_standin_setup
k create namespace "$ns" >/dev/null
# The session cluster holds one of the two jars, uploaded as Flink's REST API takes it; new jobs start CREATED.
printf 'PK not really a jar' >"$tmp/$jar"
standin PUT '{"jobs": [], "run_state": "CREATED"}' >/dev/null
curl -fsS -F "jarfile=@$tmp/$jar" "$(cluster_url)/jars/upload" >/dev/null || not_ok "the stand-in takes an upload"
k -n "$ns" apply -f "$ref/examples/basic-session-deployment-and-job.yaml" >/dev/null

start() {
	daemon_start "$1" --kubeconfig "$KUBECONFIG" --script-dir "$repo" --operator-namespace "$ns" \
		--flink-rest-override "http://127.0.0.1:$sport/{namespace}/{name}" --log-level debug ||
		{ not_ok "the daemon starts" "$(tail -n 5 "$1")"; finish; }
}
t0=$EPOCHREALTIME
start "$tmp/daemon.log"

one_run() { [[ $(runs) -ge 1 ]]; }
if eventually 40 one_run; then
	job_id=$(sj "$job" '{.status.jobStatus.jobId}')
	ran=$(from_standin '"%s %s %s %d" % (c["runs"][0].get("entryClass"), c["runs"][0].get("jobId"), c["runs"][0].get("parallelism"), len(c["runs"]))')
	if [[ $job_id =~ ^[0-9a-f]{32}$ && $ran == "$entry $job_id 2 1" ]]; then
		ok "the session job's jar is run once on its session cluster with its entry class, parallelism 2 and the job id its status names ($(seconds_since "$t0") s)"
	else
		not_ok "the session job's jar is run with its entry class and job id" "status job id '$job_id', runs: $ran"
	fi
else
	not_ok "the session job's jar is run on its session cluster" "$(sj "$job" '{.status}') $(standin GET)"
fi
if eventually 20 is "$job" '{.status.lifecycleState}/{.status.jobStatus.state}' DEPLOYED/CREATED; then
	ok "a submitted job the cluster lists as CREATED is DEPLOYED"
else
	not_ok "a submitted job the cluster lists as CREATED is DEPLOYED" "$(sj "$job" '{.status}')"
fi
no_jar() { [[ $(sj "$missing" '{.status.error}') == *"holds no jar named flink-examples-streaming-2.2.0-TopSpeedWindowing.jar"* ]]; }
if eventually 30 no_jar && [[ $(runs) == 1 ]]; then
	ok "a session job whose jar the cluster does not hold runs nothing and its status.error says so"
else
	not_ok "a session job whose jar the cluster does not hold says so" "$(sj "$missing" '{.status}'), runs $(runs)"
fi
if [[ $(sj "$job" '{.metadata.finalizers}') == *flinksessionjobs.flink.apache.org/finalizer* ]]; then
	ok "the operator puts upstream's finalizer on a FlinkSessionJob"
else
	not_ok "the operator puts upstream's finalizer on a FlinkSessionJob" "$(sj "$job" '{.metadata}')"
fi

t0=$EPOCHREALTIME
standin PUT "{\"jobs\": [{\"jid\": \"$job_id\", \"name\": \"State machine job\", \"state\": \"RUNNING\", \"start-time\": $(date +%s000)}]}" >/dev/null
if eventually 30 is "$job" '{.status.lifecycleState}/{.status.jobStatus.state}/{.status.jobStatus.jobId}' "STABLE/RUNNING/$job_id"; then
	ok "the job RUNNING makes the session job STABLE ($(seconds_since "$t0") s after the JobManager said so)"
else
	not_ok "the job RUNNING makes the session job STABLE" "$(sj "$job" '{.status}')"
fi

# A restarted operator finds the job running under the id its status names: no second run.
kill -9 "$daemon_pid"
wait "$daemon_pid" 2>/dev/null
runs0=$(runs)
start "$tmp/daemon-restarted.log"
polled() { grep -q 'flink rest api reachable' "$tmp/daemon-restarted.log"; }
eventually 20 polled
sleep 12
if [[ $(runs) == "$runs0" && $runs0 == 1 ]] && is "$job" '{.status.lifecycleState}' STABLE; then
	ok "a restarted operator does not run the job again (1 run; the job stays STABLE)"
else
	not_ok "a restarted operator does not run the job again" "runs $runs0 -> $(runs), $(sj "$job" '{.status}')"
fi

t0=$EPOCHREALTIME
k -n "$ns" delete flinksessionjob "$job" --wait=false >/dev/null
if eventually 30 gone "$job"; then
	took=$(seconds_since "$t0")
	cancels=$(from_standin 'sum(r == "PATCH /jobs/'"$job_id"'?mode=cancel" for r in c["requests"])')
	state=$(from_standin 'c["jobs"][0]["state"]')
	if [[ $cancels -ge 1 && $state == CANCELED ]]; then
		ok "deleting the session job cancels its job on the session cluster, then it goes ($took s)"
	else
		not_ok "deleting the session job cancels its job" "cancels $cancels, state $state"
	fi
else
	not_ok "deleting a session job with a running job completes" "$(sj "$job" '{.metadata} {.status}')"
fi
t0=$EPOCHREALTIME
k -n "$ns" delete flinksessionjob "$missing" --wait=false >/dev/null
if eventually 20 gone "$missing"; then
	ok "a session job that never ran is deleted at once ($(seconds_since "$t0") s)"
else
	not_ok "a session job that never ran is deleted" "$(sj "$missing" '{.metadata}')"
fi

daemon_sigterm_check
finish
