# shellcheck shell=bash
# Sourced by the suites that run the daemon against the test cluster (daemon_test.sh, resilience_test.sh): kubectl
# as admin, waiting for a condition, and the daemon's /metrics. Needs KUBECTL and KUBECONFIG (with-cluster sets
# them), and `port`, the daemon's probe port, before metric or writes is called.

k() { "$KUBECTL" --kubeconfig "$KUBECONFIG" "$@"; }
# eventually SECONDS CMD...: true as soon as CMD succeeds, false when time runs out.
eventually() {
	local until=$((SECONDS + $1))
	shift
	while ((SECONDS < until)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
	return 1
}
metric() { curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null; }
# API writes so far: every request that is not a read or a watch.
writes() { metric | awk '/^flinkop_api_requests_total/ && !/verb="(get|list|watch)"/ { n += $NF } END { print n + 0 }'; }
