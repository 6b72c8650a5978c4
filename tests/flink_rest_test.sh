#!/usr/bin/env bash
# The daemon observing Flink jobs through the JobManager's REST API, against the real control plane. The JobManager
# cannot run here, so tests/flink_rest_standin.py (a stand-in, answering in the shape of Flink's REST API) answers
# for it: `flinkop run --flink-rest-override http://127.0.0.1:PORT/{namespace}/{name}`. What a user sees in
# `kubectl get flinkdeployment`: a RUNNING job makes the deployment STABLE with the job's id, a FAILED one makes
# it FAILED with the job's exception, a JobManager that never answers is reported as unreachable while another
# FlinkDeployment keeps reconciling, and a steady job costs no writes.
# Run under tests/cluster/with-cluster; needs build/asan/flinkop (make does it).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${FLINKOP_BIN:-$repo/build/asan/flinkop}
ref=$repo/../shared/reference/flink-kubernetes-operator
tmp=$(mktemp -d)
run=fr$$
a=$run-a b=$run-b
log=$tmp/daemon.log
job_a=a5e0edd8e66b53f1b89c2041f91b8fd2
job_b=c9e7d88f3c0b4a6789e012345678abcd

finish() {
	[[ -n ${daemon_pid:-} ]] && kill -9 "$daemon_pid" 2>/dev/null
	[[ -n ${standin_pid:-} ]] && kill "$standin_pid" 2>/dev/null
	k delete namespace "$a" "$b" --wait=false >/dev/null 2>&1
	suite_end flink-rest
}
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
status_of() { k -n "$1" get flinkdeployment basic-example -o "jsonpath=$2" 2>/dev/null; }
# is NS JSONPATH VALUE: the FlinkDeployment's status field has that value now.
is() { [[ $(status_of "$1" "$2") == "$3" ]]; }
has_event() { k -n "$1" get events --field-selector "reason=$2" -o name | grep -q .; }
error_has() { [[ $(status_of "$1" '{.status.error}') == *"$2"* ]]; }
seconds_since() { awk -v t0="$1" -v t1="$EPOCHREALTIME" 'BEGIN { printf "%.1f", t1 - t0 }'; }

[[ -n ${KUBECONFIG:-} && -n ${KUBECTL:-} ]] || { not_ok "environment" "run under tests/cluster/with-cluster"; finish; }
[[ -x $bin ]] || { not_ok "environment" "$bin is not built"; finish; }
command -v python3 >/dev/null || { not_ok "environment" "python3 runs the stand-in"; finish; }

python3 "$repo/tests/flink_rest_standin.py" --port-file "$tmp/standin.port" &
standin_pid=$!
eventually 10 test -s "$tmp/standin.port" || { not_ok "the stand-in starts"; finish; }
sport=$(cat "$tmp/standin.port")

k apply --server-side -f "$ref/helm/flink-kubernetes-operator/crds/" >/dev/null &&
	k wait --for condition=established crd --all --timeout=60s >/dev/null || { not_ok "CRDs installed"; finish; }
k create namespace "$a" >/dev/null
k create namespace "$b" >/dev/null
standin PUT "$a" '{"jobs": []}' >/dev/null
k -n "$a" apply -f "$ref/examples/basic.yaml" >/dev/null

"$bin" run --kubeconfig "$KUBECONFIG" --script-dir "$repo" --operator-namespace "$a" --probe-address 127.0.0.1:0 \
	--flink-rest-override "http://127.0.0.1:$sport/{namespace}/{name}" --log-level debug >"$log" 2>&1 &
daemon_pid=$!
has_port() { [[ -n $(probe_port_in "$log") ]]; }
eventually 10 has_port || { not_ok "the daemon starts" "$(tail -n 5 "$log")"; finish; }
port=$(probe_port_in "$log")

# A JobManager that answers with no job yet: READY, the job still RECONCILING, the deployment DEPLOYED.
if eventually 30 is "$a" '{.status.jobManagerDeploymentStatus}/{.status.lifecycleState}' READY/DEPLOYED; then
	ok "a JobManager whose REST API answers is READY; with no job yet the deployment is DEPLOYED ($(status_of "$a" '{.status.jobStatus.state}'))"
else
	not_ok "a JobManager whose REST API answers is READY" "$(status_of "$a" '{.status}')"
fi

t0=$EPOCHREALTIME
standin PUT "$a" "$(job_json $job_a RUNNING)" >/dev/null
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
standin PUT "$b" "$(job_json $job_b RUNNING)" >/dev/null
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
if eventually 30 is "$b" '{.status.lifecycleState}/{.status.jobStatus.jobId}' "STABLE/$job_b"; then
	ok "... and reaches STABLE with its own job ($(seconds_since "$t0") s after it was applied)"
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
standin PUT "$a" "$(job_json $job_a FAILED 'java.lang.IllegalStateException: the source broke')" >/dev/null
if eventually 30 is "$a" '{.status.lifecycleState}/{.status.jobStatus.state}' FAILED/FAILED &&
	eventually 10 error_has "$a" 'the source broke'; then
	ok "the job FAILED makes the deployment FAILED with the job's exception ($(seconds_since "$t0") s): $(status_of "$a" '{.status.error}' | grep -o '"type":"[^"]*"')"
else
	not_ok "the job FAILED makes the deployment FAILED with the job's exception" "$(status_of "$a" '{.status}')"
fi

kill -TERM "$daemon_pid"
wait "$daemon_pid"
rc=$?
daemon_pid=
if [[ $rc -eq 0 ]] && ! grep -q "Sanitizer" "$log"; then
	ok "SIGTERM stops the daemon with status 0, no sanitizer report"
else
	not_ok "SIGTERM stops the daemon with status 0, no sanitizer report" "status $rc: $(grep -A3 -m1 Sanitizer "$log")"
fi
finish
