#!/usr/bin/env bash
# FlinkSessionJobs run on their session cluster through its REST API, against the real control plane. The
# JobManager cannot run here, so tests/flink_rest_standin.py (a stand-in, answering in the shape of Flink's REST
# API) answers for it. Upstream's examples/basic-session-deployment-and-job.yaml: a session FlinkDeployment and two
# FlinkSessionJobs. The jar of one of them is on the session cluster (uploaded with POST /jars/upload, as `flink run`
# or the web UI put it there): it is run once under the job id the operator fixed, its status follows the job to
# STABLE, a restarted operator does not run it again, deleting it cancels the job. The other's jar is not there and
# its jarURI (pointed at the stand-in's file server) answers 404: its status says so and nothing runs. A third
# session job's jar is fetched from its http:// jarURI, uploaded once and run; a parallelism change (stateless)
# cancels its job and runs the new spec under a new job id; a change with upgradeMode: savepoint stops the job with
# one savepoint and runs the new spec from it.
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
fetched=fetched-session-job fetched_jar=fetched-app-1.0.jar
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
missing_url="http://127.0.0.1:$sport/_files/flink-examples-streaming-2.2.0-TopSpeedWindowing.jar"
sed "s|https://repo1.maven.org/.*-TopSpeedWindowing.jar|$missing_url|" \
	"$ref/examples/basic-session-deployment-and-job.yaml" | k -n "$ns" apply -f - >/dev/null
# A jar on s3://, which this operator cannot fetch.
k -n "$ns" apply -f - >/dev/null <<YAML
apiVersion: flink.apache.org/v1beta1
kind: FlinkSessionJob
metadata:
  name: s3-session-job
spec:
  deploymentName: $session
  job:
    jarURI: s3://flink-jobs/app-2.0.jar
YAML
# The fetched job's jar: 3 MiB the stand-in's file server serves (it need not be a real jar for the stand-in).
head -c 3145728 /dev/urandom >"$tmp/files/$fetched_jar"
jar_sha=$(sha256sum "$tmp/files/$fetched_jar" | cut -d' ' -f1)
mkdir -p "$tmp/jars"
export FLINKOP_JAR_DIR=$tmp/jars

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
no_jar() { [[ $(sj "$missing" '{.status.error}') == *"GET $missing_url: HTTP 404"* ]]; }
if eventually 30 no_jar && [[ $(runs) == 1 ]]; then
	ok "a session job whose jarURI answers 404 runs nothing and its status.error names the URL and the 404"
else
	not_ok "a session job whose jarURI answers 404 says so" "$(sj "$missing" '{.status}'), runs $(runs)"
fi
s3_said() { [[ $(sj s3-session-job '{.status.error}') == *"spec.job.jarURI s3://flink-jobs/app-2.0.jar: the scheme s3:// is not supported"* ]]; }
if eventually 30 s3_said && [[ $(runs) == 1 ]]; then
	ok "a session job whose jarURI is on s3:// runs nothing and its status.error names the scheme and the URI"
else
	not_ok "an s3:// jarURI is refused by name" "$(sj s3-session-job '{.status}'), runs $(runs)"
fi
k -n "$ns" delete flinksessionjob s3-session-job --wait=false >/dev/null
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

# A session job whose jar the cluster does not hold: fetched from its http:// jarURI, uploaded, run.
standin PUT '{"run_state": "RUNNING"}' >/dev/null
t0=$EPOCHREALTIME
k -n "$ns" apply -f - >/dev/null <<YAML
apiVersion: flink.apache.org/v1beta1
kind: FlinkSessionJob
metadata:
  name: $fetched
spec:
  deploymentName: $session
  job:
    jarURI: http://127.0.0.1:$sport/_files/$fetched_jar
    entryClass: org.example.Fetched
    parallelism: 2
    upgradeMode: stateless
YAML
fetched_stable() { is "$fetched" '{.status.lifecycleState}/{.status.jobStatus.state}' STABLE/RUNNING; }
uploads() { from_standin 'sum(u["name"] == "'"$fetched_jar"'" for u in c["uploads"])'; }
runs_of() { from_standin 'sum(r.get("jobId") == "'"$1"'" for r in c["runs"])'; }
if eventually 40 fetched_stable; then
	took=$(seconds_since "$t0")
	fid=$(sj "$fetched" '{.status.jobStatus.jobId}')
	got=$(from_standin '" ".join("%s %d %s" % (u["sha256"], u["bytes"], u["type"]) for u in c["uploads"] if u["name"] == "'"$fetched_jar"'")')
	leftover=$(ls -A "$tmp/jars")
	if [[ $got == "$jar_sha 3145728 application/x-java-archive" && $(runs_of "$fid") == 1 && -z $leftover ]]; then
		ok "a jar the cluster does not hold is fetched from its http:// jarURI, uploaded once (the same 3 MiB, by sha256) and run once, its download deleted ($took s from apply to STABLE)"
	else
		not_ok "a fetched jar is uploaded once with its bytes and run once" "uploads: $got; runs of $fid: $(runs_of "$fid"); left in the jar dir: $leftover"
	fi
else
	not_ok "a session job whose jar is fetched runs" "$(sj "$fetched" '{.status}') $(standin GET)"
fi
echo "# $(grep -o 'msg="jar fetched".*' "$tmp/daemon-restarted.log" | head -n 1)"

# A parallelism change of the running stateless job: cancelled, then the new spec runs once under a new job id.
t0=$EPOCHREALTIME
k -n "$ns" patch flinksessionjob "$fetched" --type merge -p '{"spec":{"job":{"parallelism":3}}}' >/dev/null
new_job() { local id; id=$(sj "$fetched" '{.status.jobStatus.jobId}'); [[ $id != "$1" ]] && fetched_stable; }
if eventually 40 new_job "$fid"; then
	took=$(seconds_since "$t0")
	fid2=$(sj "$fetched" '{.status.jobStatus.jobId}')
	old=$(from_standin '[j["state"] for j in c["jobs"] if j["jid"] == "'"$fid"'"][0]')
	par=$(from_standin '[r.get("parallelism") for r in c["runs"] if r.get("jobId") == "'"$fid2"'"]')
	if [[ $old == CANCELED && $(runs_of "$fid2") == 1 && $par == "[3]" && $(uploads) == 1 ]]; then
		ok "a parallelism change of a running stateless session job cancels its job and runs the new spec once under a new job id, STABLE again ($took s; the jar is not uploaded again)"
	else
		not_ok "a stateless spec change cancels and runs the new spec" "old job $old, runs of $fid2: $(runs_of "$fid2") $par, uploads $(uploads)"
	fi
else
	not_ok "a stateless spec change reaches STABLE with a new job id" "$(sj "$fetched" '{.status}') $(standin GET)"
fi

# upgradeMode: savepoint and a new parallelism: one stop-with-savepoint, the new spec run from that savepoint.
t0=$EPOCHREALTIME
standin PUT '{"savepoint_seconds": 1}' >/dev/null
k -n "$ns" patch flinksessionjob "$fetched" --type merge \
	-p '{"spec":{"job":{"parallelism":4,"upgradeMode":"savepoint"}}}' >/dev/null
if eventually 60 new_job "$fid2"; then
	took=$(seconds_since "$t0")
	fid3=$(sj "$fetched" '{.status.jobStatus.jobId}')
	taken=$(from_standin 'c["savepoints_taken"]')
	location=$(from_standin '[o["location"] for o in c["operations"].values() if o["jid"] == "'"$fid2"'"][0]')
	from=$(from_standin '[r.get("savepointPath") for r in c["runs"] if r.get("jobId") == "'"$fid3"'"]')
	if [[ $taken == 1 && $from == "['$location']" && $(sj "$fetched" '{.status.jobStatus.upgradeSavepointPath}') == "$location" ]]; then
		ok "a savepoint-mode spec change stops the job with one savepoint and runs the new spec once from it ($took s)"
	else
		not_ok "a savepoint-mode spec change runs the new spec from one savepoint" "taken $taken, location $location, runs from $from"
	fi
else
	not_ok "a savepoint-mode spec change reaches STABLE with a new job id" "$(sj "$fetched" '{.status}') $(standin GET)"
fi
k -n "$ns" delete flinksessionjob "$fetched" --wait=false >/dev/null

t0=$EPOCHREALTIME
k -n "$ns" delete flinksessionjob "$job" --wait=false >/dev/null
if eventually 30 gone "$job"; then
	took=$(seconds_since "$t0")
	cancels=$(from_standin 'sum(r == "PATCH /jobs/'"$job_id"'?mode=cancel" for r in c["requests"])')
	state=$(from_standin '[j["state"] for j in c["jobs"] if j["jid"] == "'"$job_id"'"][0]')
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

if eventually 20 gone "$fetched"; then
	ok "the fetched session job is deleted"
else
	not_ok "the fetched session job is deleted" "$(sj "$fetched" '{.metadata}')"
fi
daemon_sigterm_check
finish
