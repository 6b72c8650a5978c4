#!/usr/bin/env bash
# transport_test.sh: core/http.c, core/kubeconfig.c and core/kube.c against a real apiserver.
#
#   tests/cluster/with-cluster tests/transport_test.sh
#
# Needs the with-cluster environment: KUBECONFIG (admin, client-certificate data), KUBECTL,
# FLINKOP_ETCD_ENDPOINT (to compact etcd for the 410 test). Compiles tests/transport_probe.c itself (with
# ASan/UBSan) into build/transport/, prints "ok - name" / "not ok - name # why" lines and ends with
# "transport: N passed, M failed". Exit status 0 only when nothing failed.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$repo/build/transport
mkdir -p "$out"
log=$out/results
: >"$log"

say() { printf '%s\n' "$*" | tee -a "$log"; }
ok() { say "ok - $1"; }
not_ok() { say "not ok - $1${2:+ # $2}"; }
finish() {
	local p f
	p=$(grep -c '^ok - ' "$log")
	f=$(grep -c '^not ok - ' "$log")
	echo "transport: $p passed, $f failed"
	[[ $f -eq 0 ]]
	exit
}

for v in KUBECONFIG KUBECTL; do
	if [[ -z ${!v:-} ]]; then
		not_ok "environment" "$v is not set: run under tests/cluster/with-cluster"
		finish
	fi
done

# --- build the probe ---
CC=${CC:-cc}
warn=(-std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes)
san=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
# shellcheck disable=SC2046
if $CC "${warn[@]}" -O1 -g "${san[@]}" -iquote "$repo/core" $(pkg-config --cflags libcurl libcjson yaml-0.1 openssl) \
	-o "$out/transport_probe" "$repo/tests/transport_probe.c" \
	"$repo"/core/{http,kube,kubeconfig,strutil,yaml,json_text}.c \
	$(pkg-config --libs libcurl libcjson yaml-0.1 openssl) -lev -lm 2>"$out/build.log"; then
	ok "build transport_probe"
else
	not_ok "build transport_probe" "see $out/build.log"
	cat "$out/build.log" >&2
	finish
fi
probe=$out/transport_probe

# Runs the probe, passing its ok/not ok lines into the results; a crash or sanitizer report is a failure.
run_probe() {
	local name=$1 rc
	shift
	"$probe" "$@" >"$out/$name.out" 2>"$out/$name.err"
	rc=$?
	grep -E '^(not )?ok - ' "$out/$name.out" | tee -a "$log"
	if [[ $rc -ne 0 ]] && ! grep -q '^not ok - ' "$out/$name.out"; then
		not_ok "probe $name exits cleanly" "exit $rc: $(tail -n 5 "$out/$name.err" | tr '\n' ' ')"
	fi
}

list_rv() {
	"$KUBECTL" get --raw "/api/v1/namespaces/$1/configmaps" | grep -o '"resourceVersion":"[0-9]*"' | head -n 1 |
		tr -dc '0-9'
}

ns=flinkop-transport-$$
if "$KUBECTL" create namespace "$ns" >/dev/null; then
	ok "kubectl create namespace $ns"
else
	not_ok "kubectl create namespace $ns"
	finish
fi
trap '"$KUBECTL" delete namespace "$ns" --wait=false >/dev/null 2>&1' EXIT

old_rv=$(list_rv "$ns")

# --- GET /version, list, create, apply, get, delete, 404, counting hook, rate limiter (admin client cert) ---
run_probe basic basic "$ns"

# --- a watch sees the ConfigMap kubectl creates ---
"$probe" watch "$ns" probe-watch-cm >"$out/watch.out" 2>"$out/watch.err" &
watch_pid=$!
for _ in $(seq 1 300); do
	grep -q '^# ready' "$out/watch.out" 2>/dev/null && break
	kill -0 "$watch_pid" 2>/dev/null || break
	sleep 0.1
done
"$KUBECTL" -n "$ns" create configmap probe-watch-cm --from-literal=a=b >/dev/null ||
	not_ok "kubectl create configmap probe-watch-cm"
wait "$watch_pid"
rc=$?
grep -E '^(not )?ok - ' "$out/watch.out" | tee -a "$log"
if [[ $rc -ne 0 ]] && ! grep -q '^not ok - ' "$out/watch.out"; then
	not_ok "probe watch exits cleanly" "exit $rc: $(tail -n 5 "$out/watch.err" | tr '\n' ' ')"
fi

# --- 410 for a stale resourceVersion: compact etcd past it (the watch cache is off, so etcd serves watches) ---
"$KUBECTL" -n "$ns" create configmap probe-after --from-literal=a=b >/dev/null
new_rv=$(list_rv "$ns")
etcdctl=$(command -v etcdctl || true)
if [[ -z $etcdctl || -z ${FLINKOP_ETCD_ENDPOINT:-} || -z $old_rv || -z $new_rv ]]; then
	not_ok "compact etcd" "etcdctl=${etcdctl:-missing} endpoint=${FLINKOP_ETCD_ENDPOINT:-unset} rv=$old_rv..$new_rv"
elif ETCDCTL_API=3 "$etcdctl" --endpoints="$FLINKOP_ETCD_ENDPOINT" compact "$new_rv" >"$out/compact.log" 2>&1; then
	ok "compact etcd at revision $new_rv"
	run_probe gone gone "$ns" "$old_rv"
else
	not_ok "compact etcd" "$(tr '\n' ' ' <"$out/compact.log")"
fi

# --- a service-account token kubeconfig (certificate-authority-data + token): the token reaches the server ---
if "$KUBECTL" -n "$ns" create serviceaccount probe-sa >/dev/null &&
	"$repo/tests/cluster/sa-kubeconfig" "$ns" probe-sa "$out/sa.kubeconfig" 10m 2>"$out/sa.err"; then
	KUBECONFIG=$out/sa.kubeconfig run_probe whoami whoami "$ns" probe-sa
	if grep -rqF -- "$(sed -n 's/^ *token: //p' "$out/sa.kubeconfig")" "$out"/whoami.out "$out"/whoami.err; then
		not_ok "the token appears in no probe output"
	else
		ok "the token appears in no probe output"
	fi
else
	not_ok "make a service-account kubeconfig" "$(tr '\n' ' ' <"$out/sa.err")"
fi

finish
