# shellcheck shell=bash
# Sourced by up, down and restart (after common.sh): how one component of the
# cluster is started, stopped and waited for. `up` records each component's
# command line once, in STATE/cmd/NAME (one argument per line), and starts it
# from there; `restart` starts it again from the same file, so both run the
# very same flags, ports and data dir.

grace=${FLINKOP_CLUSTER_GRACE:-10}
timeout_s=${FLINKOP_CLUSTER_TIMEOUT:-120}

# cluster_record NAME CMD...: remember CMD as the command line of NAME.
cluster_record() {
	local name=$1 a
	shift
	for a in "$@"; do
		[[ $a != *$'\n'* ]] || cluster_die "$name: an argument holds a newline: $a"
	done
	mkdir -p "$STATE/cmd"
	printf '%s\n' "$@" >"$STATE/cmd/$name"
}

# cluster_start NAME [append]: run NAME's recorded command detached in its own
# session, log to STATE/logs/NAME.log (anew, or appended to with `append`) and
# remember its PID in STATE/pids/NAME.
cluster_start() {
	local name=$1 mode=${2:-} log=$STATE/logs/$1.log argv
	[[ -s $STATE/cmd/$name ]] || cluster_die "no recorded command line for $name in $STATE/cmd"
	mapfile -t argv <"$STATE/cmd/$name"
	mkdir -p "$STATE/pids" "$STATE/logs"
	if [[ $mode == append ]]; then
		echo "---- restarted $(date -u +%Y-%m-%dT%H:%M:%SZ) ----" >>"$log"
	else
		: >"$log"
	fi
	# 9>&-: the lock fd must not outlive up (or restart) in the daemons.
	setsid "${argv[@]}" >>"$log" 2>&1 </dev/null 9>&- &
	echo $! >"$STATE/pids/$name"
}

# cluster_stop NAME: end the process in STATE/pids/NAME if it is still ours,
# TERM first, KILL after the grace period.
cluster_stop() {
	local name=$1 pid i
	if ! cluster_pid_alive "$name"; then
		rm -f "$STATE/pids/$name"
		return 0
	fi
	pid=$(<"$STATE/pids/$name")
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < grace * 10; i++)); do
		cluster_pid_alive "$name" || break
		sleep 0.1
	done
	if cluster_pid_alive "$name"; then
		cluster_log "$name (pid $pid) ignored TERM for ${grace}s: sending KILL"
		kill -KILL "$pid" 2>/dev/null || true
		while cluster_pid_alive "$name"; do sleep 0.1; done
	fi
	rm -f "$STATE/pids/$name"
	cluster_log "stopped $name (pid $pid)"
}

# cluster_fail NAME WHAT: report, show the end of NAME's log, run the caller's
# cluster_on_fail (up stops what it started), exit 1.
cluster_fail() {
	echo "cluster: error: $2" >&2
	echo "---- last lines of $STATE/logs/$1.log ----" >&2
	tail -n 30 "$STATE/logs/$1.log" >&2 || true
	echo "----" >&2
	if declare -F cluster_on_fail >/dev/null; then cluster_on_fail; fi
	exit 1
}

# cluster_wait_for NAME WHAT CMD...: poll CMD until it succeeds; fail if NAME
# dies or the timeout passes.
cluster_wait_for() {
	local name=$1 what=$2 deadline=$((SECONDS + timeout_s))
	shift 2
	until "$@" >/dev/null 2>&1; do
		cluster_pid_alive "$name" || cluster_fail "$name" "$name exited while waiting for $what"
		((SECONDS < deadline)) || cluster_fail "$name" "$what not reached within ${timeout_s}s"
		sleep 0.5
	done
}

cluster_admin_curl() {
	curl -sf --max-time 5 --cacert "$STATE/pki/ca.crt" \
		--cert "$STATE/pki/admin.crt" --key "$STATE/pki/admin.key" "$@"
}

# cluster_wait_ready NAME: wait until NAME serves (ports from STATE/ports).
cluster_wait_ready() {
	case $1 in
	etcd)
		cluster_wait_for etcd "etcd health on http://127.0.0.1:$ETCD_PORT" \
			curl -sf --max-time 2 "http://127.0.0.1:$ETCD_PORT/health"
		;;
	kube-apiserver)
		cluster_wait_for kube-apiserver "kube-apiserver /readyz" \
			cluster_admin_curl "https://127.0.0.1:$APISERVER_PORT/readyz"
		;;
	kube-controller-manager)
		cluster_wait_for kube-controller-manager "kube-controller-manager /healthz" \
			curl -sfk --max-time 5 "https://127.0.0.1:$KCM_PORT/healthz"
		;;
	*) cluster_die "unknown component $1" ;;
	esac
}
