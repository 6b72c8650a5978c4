#!/usr/bin/env bash
# transport_test.sh: core/http.c, core/kubeconfig.c, core/exec_credential.c and core/kube.c against a real apiserver.
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

admin=$KUBECONFIG # the probes may run with another kubeconfig; kubectl here always acts as admin

# --- build the probe ---
CC=${CC:-cc}
warn=(-std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes)
san=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
# shellcheck disable=SC2046
if $CC "${warn[@]}" -O1 -g "${san[@]}" -iquote "$repo/core" $(pkg-config --cflags libcurl libcjson yaml-0.1 openssl) \
	-o "$out/transport_probe" "$repo/tests/transport_probe.c" \
	"$repo"/core/{http,kube,kubeconfig,exec_credential,subprocess,log,object,strutil,yaml,json_text}.c \
	$(pkg-config --libs libcurl libcjson yaml-0.1 openssl) -lev -lm 2>"$out/build.log"; then
	ok "build transport_probe"
else
	not_ok "build transport_probe" "see $out/build.log"
	cat "$out/build.log" >&2
	finish
fi
probe=$out/transport_probe

# Passes the ok/not ok lines of probe run NAME (exit status RC) into the results, each name prefixed with $prefix
# when set; a crash or sanitizer report is a failure.
report() {
	local name=$1 rc=$2
	sed -n "s/^\(\(not \)\{0,1\}ok - \)/\1${prefix:-}/p" "$out/$name.out" | tee -a "$log"
	if [[ $rc -ne 0 ]] && ! grep -q '^not ok - ' "$out/$name.out"; then
		not_ok "${prefix:-}probe $name exits cleanly" "exit $rc: $(tail -n 5 "$out/$name.err" | tr '\n' ' ')"
	fi
}

# run_probe NAME ARGS...: runs the probe and reports its results.
run_probe() {
	local name=$1
	shift
	"$probe" "$@" >"$out/$name.out" 2>"$out/$name.err"
	report "$name" $?
}

# watch_probe NAME CONFIGMAP: the watch probe; kubectl creates CONFIGMAP once the probe's watch is open.
watch_probe() {
	local name=$1 cm=$2 pid
	"$probe" watch "$ns" "$cm" >"$out/$name.out" 2>"$out/$name.err" &
	pid=$!
	for _ in $(seq 1 300); do
		grep -q '^# ready' "$out/$name.out" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	"$KUBECTL" --kubeconfig "$admin" -n "$ns" create configmap "$cm" --from-literal=a=b >/dev/null ||
		not_ok "kubectl create configmap $cm"
	wait "$pid"
	report "$name" $?
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
watch_probe watch probe-watch-cm

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

# --- a credential plugin (kubeconfig exec) that prints a real ServiceAccount token ---
# The plugin is a shell script next to its kubeconfig (command: ./plugin.sh, resolved against the kubeconfig's
# directory). It appends a line to `runs` each time it runs; `mode` says what it prints.
x=$out/exec
rm -rf "$x"
mkdir -p "$x"
cat >"$x/plugin.sh" <<'EOT'
#!/bin/sh
d=$(dirname "$0")
echo run >>"$d/runs"
printf '%s' "$KUBERNETES_EXEC_INFO" >"$d/info"
token=$(cat "$d/token")
exp=
case $(cat "$d/mode") in
expiring) exp=$(date -u -d "@$(($(date +%s) + 3))" +%Y-%m-%dT%H:%M:%SZ) ;;
bad-first) [ "$(wc -l <"$d/runs")" -eq 1 ] && token=not-a-token-the-apiserver-knows ;;
cert)
	c=$(awk '{ printf "%s\\n", $0 }' "$d/cert.pem")
	k=$(awk '{ printf "%s\\n", $0 }' "$d/key.pem")
	printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",%s}\n' \
		"\"status\":{\"clientCertificateData\":\"$c\",\"clientKeyData\":\"$k\"}"
	exit 0
	;;
fail)
	echo "cannot reach the token service" >&2
	echo "details nobody needs" >&2
	exit 4
	;;
esac
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"%s}}\n' \
	"$token" "${exp:+,\"expirationTimestamp\":\"$exp\"}"
EOT
chmod 755 "$x/plugin.sh"
cat >"$x/kubeconfig" <<EOT
apiVersion: v1
kind: Config
clusters:
- name: flinkop
  cluster:
    server: $FLINKOP_APISERVER
    certificate-authority-data: $(base64 -w0 "$FLINKOP_CA")
users:
- name: probe-plugin
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./plugin.sh
      interactiveMode: Never
      provideClusterInfo: true
contexts:
- name: plugin
  context: {cluster: flinkop, user: probe-plugin, namespace: $ns}
current-context: plugin
EOT
runs() { if [[ -f $x/runs ]]; then wc -l <"$x/runs"; else echo 0; fi; }
# with_mode MODE PROBE ARGS...: a fresh run count, then PROBE (run_probe or watch_probe) as the plugin's user; the
# results are named "plugin credential: ..." (the probe's own names repeat those of the runs above)
with_mode() {
	echo "$1" >"$x/mode"
	rm -f "$x/runs"
	KUBECONFIG=$x/kubeconfig prefix="plugin credential: " "${@:2}"
}
if "$KUBECTL" -n "$ns" create serviceaccount probe-exec >/dev/null &&
	"$KUBECTL" -n "$ns" create role probe-exec --verb=get,list,watch --resource=configmaps >/dev/null &&
	"$KUBECTL" -n "$ns" create rolebinding probe-exec --role=probe-exec \
		--serviceaccount="$ns:probe-exec" >/dev/null &&
	(umask 077 && "$KUBECTL" -n "$ns" create token probe-exec --duration=10m >"$x/token"); then
	ok "a ServiceAccount token for the plugin to print"
else
	not_ok "a ServiceAccount token for the plugin to print"
	finish
fi

# list and watch as the plugin's user: the watch probe lists, watches, and sees a ConfigMap kubectl creates
with_mode plain watch_probe exec-watch probe-exec-cm
if [[ $(runs) -eq 1 ]]; then
	ok "the plugin ran once for a list and a watch"
else
	not_ok "the plugin ran once for a list and a watch" "runs: $(runs)"
fi
if grep -q '"interactive":false' "$x/info" && grep -q "\"server\":\"$FLINKOP_APISERVER\"" "$x/info" &&
	grep -q '"certificate-authority-data":"' "$x/info"; then
	ok "KUBERNETES_EXEC_INFO says not interactive and gives the cluster (provideClusterInfo)"
else
	not_ok "KUBERNETES_EXEC_INFO says not interactive and gives the cluster (provideClusterInfo)" "$(cat "$x/info")"
fi

# a credential with expirationTimestamp 3 s ahead: the second burst, 5 s later, needs a new run
with_mode expiring run_probe exec-expiry burst "$ns" 5 5
if [[ $(runs) -eq 2 ]]; then
	ok "an expired plugin credential is refreshed: 2 runs for 2 bursts 5 s apart"
else
	not_ok "an expired plugin credential is refreshed: 2 runs for 2 bursts 5 s apart" "runs: $(runs)"
fi

# the first run prints a token the apiserver refuses: every request of the burst gets 401, the plugin runs once
# more (not once per request), and each request is retried with the new token
with_mode bad-first run_probe exec-401 burst "$ns" 8
n401=$(grep -o 'list=401' "$out/exec-401.out" | wc -l)
n200=$(grep -o 'list=200' "$out/exec-401.out" | wc -l)
if [[ $(runs) -eq 2 && $n401 -eq 8 && $n200 -eq 8 ]]; then
	ok "a 401 burst runs the plugin once more and the 8 requests are retried (8 x 401, 8 x 200, 2 runs)"
else
	not_ok "a 401 burst runs the plugin once more and the 8 requests are retried" \
		"runs $(runs), 401s $n401, 200s $n200"
fi

# a client certificate from the plugin (the admin's): create, apply, get and delete work with it
cp "$FLINKOP_ADMIN_CERT" "$x/cert.pem"
(umask 077 && cp "$FLINKOP_ADMIN_KEY" "$x/key.pem")
with_mode cert run_probe exec-cert basic "$ns"

# a plugin that fails: the error names the kubeconfig user, the command and its first stderr line
with_mode fail run_probe exec-fail refused "$ns"
err_line=$(sed -n 's/^# error: //p' "$out/exec-fail.out" | head -n 1)
want="$x/kubeconfig: users[\"probe-plugin\"].user.exec: $x/plugin.sh exited with status 4"
want="$want (stderr: cannot reach the token service)"
if [[ $err_line == "$want" ]]; then
	ok "a failing plugin's error names the file, the user, the command and its first stderr line"
else
	not_ok "a failing plugin's error names the file, the user, the command and its first stderr line" \
		"got \"$err_line\""
fi
if [[ $(runs) -eq 1 ]] && grep -q 'msg="credential plugin failed"' "$out/exec-fail.err"; then
	ok "the failure is logged once and the plugin is not run again at once"
else
	not_ok "the failure is logged once and the plugin is not run again at once" "runs $(runs)"
fi

if grep -rqF -- "$(cat "$x/token")" "$out"/exec-*.out "$out"/exec-*.err; then
	not_ok "the plugin's token appears in no probe output or log"
else
	ok "the plugin's token appears in no probe output or log"
fi

finish
