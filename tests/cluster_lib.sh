# Shared by the suites that run against the test cluster (under tests/cluster/with-cluster), for what they do alike:
# talk to the cluster, wait for a condition, read a daemon's /metrics. Source it; do not run it.

k() { "$KUBECTL" --kubeconfig "$KUBECONFIG" "$@"; }

# eventually SECONDS CMD...: true as soon as CMD succeeds, false when time runs out.
eventually() {
	local until=$((SECONDS + $1))
	shift
	while ((SECONDS < until)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
	return 1
}

# metrics_at PORT: the /metrics text of the daemon whose probe server listens on PORT.
metrics_at() { curl -fsS "http://127.0.0.1:$1/metrics" 2>/dev/null; }

# writes_at PORT: the daemon's API writes so far, every request that is not a read or a watch (lease traffic is
# counted in a metric of its own).
writes_at() {
	metrics_at "$1" | awk '/^flinkop_api_requests_total/ && !/verb="(get|list|watch)"/ { n += $NF } END { print n + 0 }'
}

# writes_settled PORT: waits (at most 40 s) until the daemon's writes stop growing over one 2 s resync, then two
# more resyncs; prints the writes before and after those two, which a converged daemon keeps equal.
writes_settled() {
	local w0=-1 w1
	for _ in $(seq 20); do
		sleep 2
		w1=$(writes_at "$1")
		[[ $w1 == "$w0" ]] && break
		w0=$w1
	done
	sleep 4.5
	echo "$w1 $(writes_at "$1")"
}

# probe_port_in LOG: the probe port a daemon logged when it started (it listens on port 0: the kernel picks).
probe_port_in() { sed -n 's/.*msg="started".* probe_port=\([0-9]*\).*/\1/p' "$1" | head -n 1; }

# The tally every suite keeps, and the closing line tests/cluster-suites.sh sums.
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1${2:+: $2}"; }
# suite_end NAME: print "NAME: N passed, M failed", remove $tmp, and exit with the suite's status.
suite_end() {
	echo "$1: $passed passed, $failed failed"
	[[ -n ${tmp:-} ]] && rm -rf "$tmp"
	[[ $failed -eq 0 ]]
	exit
}

# namespaces_gone NS...: none of the namespaces exists any more (not even Terminating).
namespaces_gone() { [[ -z $(k get namespace "$@" --ignore-not-found -o name 2>/dev/null) ]]; }
# flink_gone NS...: no FlinkDeployment or FlinkSessionJob is left in the namespaces.
flink_gone() {
	local ns
	for ns in "$@"; do
		[[ -z $(k -n "$ns" get flinkdeployments,flinksessionjobs -o name 2>/dev/null) ]] || return 1
	done
}

# namespaces_end: deletes the namespaces the suite made (the array suite_namespaces) and, while its daemon
# (daemon_pid) runs, waits until they are gone, not ok when one is left. The daemon takes its finalizer off their
# FlinkDeployments and FlinkSessionJobs as they go; deleted after it stopped, a namespace stays Terminating until a
# later suite's daemon finishes it. Those go first (at most 60 s), then the namespaces (at most 60 s): a namespace's
# deletion may take a namespaced operator's RoleBinding there before the operator has removed its finalizer. Call
# it before stopping the daemon; again (from suite_finish) it finds nothing left.
namespaces_end() {
	local ns=(${suite_namespaces[@]+"${suite_namespaces[@]}"}) started=$SECONDS n
	((${#ns[@]})) || return 0
	if [[ -n ${daemon_pid:-} ]] && kill -0 "$daemon_pid" 2>/dev/null; then
		for n in "${ns[@]}"; do
			k -n "$n" delete flinksessionjobs,flinkdeployments --all --wait=false >/dev/null 2>&1
		done
		eventually 60 flink_gone "${ns[@]}" || not_ok "the suite's FlinkDeployments go while its daemon runs" \
			"after 60 s: $(for n in "${ns[@]}"; do k -n "$n" get flinkdeployments,flinksessionjobs -o name 2>/dev/null; done | tr '\n' ' ')"
	fi
	k delete namespace "${ns[@]}" --ignore-not-found --wait=false >/dev/null 2>&1
	[[ -n ${daemon_pid:-} ]] && kill -0 "$daemon_pid" 2>/dev/null || return 0
	if eventually 60 namespaces_gone "${ns[@]}"; then
		echo "# the suite's namespaces went in $((SECONDS - started)) s while its daemon ran"
	else
		not_ok "the suite's namespaces go while its daemon runs" \
			"after 60 s: $(k get namespace "${ns[@]}" --ignore-not-found --no-headers 2>&1 | tr -s ' \n' ' ')"
	fi
}

# suite_finish NAME [NS...]: ends a suite on every path (its finish): namespaces_end while the daemon still runs,
# then the daemon (daemon_pid) and the Flink stand-in (standin_pid) stopped, NS... (namespaces no daemon of the
# suite serves, such as the operator's own) deleted, and suite_end NAME.
suite_finish() {
	local name=$1
	shift
	namespaces_end
	[[ -n ${daemon_pid:-} ]] && kill -9 "$daemon_pid" 2>/dev/null
	[[ -n ${standin_pid:-} ]] && kill "$standin_pid" 2>/dev/null
	(($#)) && k delete namespace "$@" --ignore-not-found --wait=false >/dev/null 2>&1
	suite_end "$name"
}

probe_port_logged() { [[ -n $(probe_port_in "$1") ]]; }

# daemon_start LOG ARGS...: starts `$bin run ARGS` in the background, logging to LOG, with its probe server on port 0
# (a random guess could collide); sets daemon_pid, and port once the daemon has logged it. False when it has not
# started within 10 s.
daemon_start() {
	local log=$1
	shift
	"$bin" run "$@" --probe-address "127.0.0.1:0" >"$log" 2>&1 &
	daemon_pid=$!
	eventually 10 probe_port_logged "$log" || return 1
	port=$(probe_port_in "$log")
}

# flink_standin_setup: what a suite of Flink jobs needs first (it sets bin, repo, ref, tmp; defines finish): the
# environment checked, the CRDs installed and tests/flink_rest_standin.py running, with standin_pid and its port in
# sport. Ends the suite through finish when one of them is missing.
flink_standin_setup() {
	[[ -n ${KUBECONFIG:-} && -n ${KUBECTL:-} ]] || { not_ok "environment" "run under tests/cluster/with-cluster"; finish; }
	[[ -x $bin ]] || { not_ok "environment" "$bin is not built"; finish; }
	command -v python3 >/dev/null || { not_ok "environment" "python3 runs the stand-in"; finish; }
	mkdir -p "$tmp/files"
	python3 "$repo/tests/flink_rest_standin.py" --port-file "$tmp/standin.port" --files-dir "$tmp/files" &
	standin_pid=$!
	eventually 10 test -s "$tmp/standin.port" || { not_ok "the stand-in starts"; finish; }
	sport=$(cat "$tmp/standin.port")
	k apply --server-side -f "$ref/helm/flink-kubernetes-operator/crds/" >/dev/null &&
		k wait --for condition=established crd --all --timeout=60s >/dev/null || { not_ok "CRDs installed"; finish; }
}

# daemon_sigterm_check: ends the suite's namespaces (namespaces_end) while daemon_pid runs, then stops it with
# SIGTERM; ok when it exits 0 and no $tmp/daemon*.log holds a sanitizer report.
daemon_sigterm_check() {
	local rc
	namespaces_end
	kill -TERM "$daemon_pid"
	wait "$daemon_pid"
	rc=$?
	daemon_pid=
	if [[ $rc -eq 0 ]] && ! grep -q "Sanitizer" "$tmp"/daemon*.log; then
		ok "SIGTERM stops the daemon with status 0, no sanitizer report"
	else
		not_ok "SIGTERM stops the daemon with status 0, no sanitizer report" "status $rc: $(grep -A3 -m1 Sanitizer "$tmp"/daemon*.log)"
	fi
}
