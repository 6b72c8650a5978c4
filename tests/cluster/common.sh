# shellcheck shell=bash
# Sourced by the cluster scripts: where the cluster's state lives and small
# helpers they share. Defines no behaviour of its own.

cluster_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cluster_repo=$(cd "$cluster_here/../.." && pwd)

# One state dir per checkout, so two clones on one machine do not collide.
cluster_state_dir() {
	local h
	h=$(printf '%s' "$cluster_repo" | sha256sum | cut -c1-8)
	echo "${FLINKOP_CLUSTER_DIR:-/tmp/flinkop-cluster-$UID-$h}"
}

STATE=$(cluster_state_dir)

cluster_log() { echo "cluster: $*" >&2; }
cluster_die() { echo "cluster: error: $*" >&2; exit 1; }

# cluster_pid_alive NAME: true when STATE/pids/NAME names a live process that
# is still the program we started (a recycled PID does not count).
cluster_pid_alive() {
	local f=$STATE/pids/$1 pid
	[[ -s $f ]] || return 1
	pid=$(<"$f")
	[[ -r /proc/$pid/cmdline ]] || return 1
	# Every process we start names a file under STATE on its command line.
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$STATE/"
}
