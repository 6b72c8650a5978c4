#!/usr/bin/env bash
# `flinkop run` whose kubeconfig user is a credential plugin (exec). With a plugin that prints the admin's client
# certificate the daemon converges examples/basic.yaml and runs the plugin once; with a plugin that fails it logs the
# plugin's error (kubeconfig user, command, first stderr line), keeps running with its probes answering, does not
# hammer the plugin, and exits 0 on SIGTERM. Run under tests/cluster/with-cluster; needs build/asan/flinkop.
set -uo pipefail

# cluster_lib.sh for k, eventually and namespaces_end; lib.sh after it, for its tally and finish.
# shellcheck source=cluster_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/cluster_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bin=${FLINKOP_BIN:-$ROOT/build/asan/flinkop}
tmp=$(mktemp -d)
ns=dx$$
suite_namespaces=("$ns")

end() {
	namespaces_end
	[[ -n ${daemon_pid:-} ]] && kill -9 "$daemon_pid" 2>/dev/null
	rm -rf "$tmp"
	finish daemon-exec
	exit
}
runs() { if [[ -f $tmp/runs ]]; then wc -l <"$tmp/runs"; else echo 0; fi; }

[[ -n ${KUBECONFIG:-} && -n ${KUBECTL:-} && -n ${FLINKOP_ADMIN_CERT:-} ]] ||
	{ not_ok "environment" "run under tests/cluster/with-cluster"; end; }
[[ -x $bin ]] || { not_ok "environment" "$bin is not built"; end; }

k apply --server-side -f "$REF/helm/flink-kubernetes-operator/crds/" >/dev/null &&
	k wait --for condition=established crd --all --timeout=60s >/dev/null || { not_ok "CRDs installed"; end; }
k create namespace "$ns" >/dev/null && k -n "$ns" apply -f "$REF/examples/basic.yaml" >/dev/null ||
	{ not_ok "namespace and FlinkDeployment created"; end; }

# The plugin prints the admin's client certificate (v1beta1), or fails when the file `fail` exists.
cp "$FLINKOP_ADMIN_CERT" "$tmp/cert.pem"
(umask 077 && cp "$FLINKOP_ADMIN_KEY" "$tmp/key.pem")
cat >"$tmp/plugin.sh" <<'EOT'
#!/bin/sh
d=$(dirname "$0")
echo run >>"$d/runs"
if [ -f "$d/fail" ]; then
	echo "error: the identity provider said no" >&2
	exit 2
fi
c=$(awk '{ printf "%s\\n", $0 }' "$d/cert.pem")
k=$(awk '{ printf "%s\\n", $0 }' "$d/key.pem")
printf '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":%s}\n' \
	"{\"clientCertificateData\":\"$c\",\"clientKeyData\":\"$k\"}"
EOT
chmod 755 "$tmp/plugin.sh"
cat >"$tmp/kubeconfig" <<EOT
apiVersion: v1
kind: Config
clusters:
- name: flinkop
  cluster: {server: "$FLINKOP_APISERVER", certificate-authority: "$FLINKOP_CA"}
users:
- name: operator
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: ./plugin.sh}
contexts:
- name: op
  context: {cluster: flinkop, user: operator}
current-context: op
EOT

# start_daemon LOG: the daemon on the plugin's kubeconfig; sets daemon_pid and port (empty when it did not start)
start_daemon() {
	log=$1
	"$bin" run --kubeconfig "$tmp/kubeconfig" --script-dir "$ROOT" --operator-namespace "$ns" \
		--probe-address 127.0.0.1:0 --resync-interval 2 >"$log" 2>&1 &
	daemon_pid=$!
	port=
	for _ in $(seq 1 40); do
		port=$(sed -n 's/.*msg="started".* probe_port=\([0-9]*\).*/\1/p' "$log" | head -n 1)
		[[ -n $port ]] && break
		sleep 0.25
	done
}
# stop_daemon NAME: SIGTERM, then exit status 0 and no sanitizer report
stop_daemon() {
	kill -TERM "$daemon_pid"
	wait "$daemon_pid"
	local rc=$?
	daemon_pid=
	if [[ $rc -eq 0 ]] && ! grep -q 'Sanitizer' "$log"; then
		ok "$1"
	else
		not_ok "$1" "exit $rc; $(grep -m3 -E 'Sanitizer|ERROR' "$log")"
	fi
}

# --- a working plugin ---
start_daemon "$tmp/ok.log"
[[ -n $port ]] || { not_ok "the daemon starts with a credential plugin" "$(tail -n 5 "$tmp/ok.log")"; end; }
if eventually 60 k -n "$ns" get deployment basic-example; then
	ok "the daemon authenticated by the plugin's client certificate creates the JobManager Deployment"
else
	not_ok "the daemon authenticated by the plugin's client certificate creates the JobManager Deployment" \
		"$(grep -m3 -E 'level=(error|warn)' "$tmp/ok.log")"
fi
if [[ $(runs) -eq 1 ]] && grep -q 'msg="credential plugin ran".*expires=none client_certificate=yes' "$tmp/ok.log"; then
	ok "the plugin ran once for every informer and write (its credential does not expire)"
else
	not_ok "the plugin ran once for every informer and write" "runs $(runs)"
fi
stop_daemon "SIGTERM stops the daemon with a plugin credential: exit 0, no sanitizer report"

# --- a failing plugin ---
touch "$tmp/fail"
rm -f "$tmp/runs"
start_daemon "$tmp/fail.log"
name="the daemon starts although its credential plugin fails"
[[ -n $port ]] || { not_ok "$name" "$(tail -n 5 "$tmp/fail.log")"; end; }
ok "$name"
# as logfmt quotes it
want="$tmp/kubeconfig: users[\\\"operator\\\"].user.exec: $tmp/plugin.sh exited with status 2"
want="$want (stderr: error: the identity provider said no)"
logged() { grep -qF "msg=\"credential plugin failed\" error=\"$want\"" "$tmp/fail.log"; }
if eventually 10 logged; then
	ok "the failure is logged with the kubeconfig user, the command and its first stderr line"
else
	not_ok "the failure is logged with the kubeconfig user, the command and its first stderr line" \
		"$(grep -m2 'credential plugin' "$tmp/fail.log")"
fi
sleep 6
healthz=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz")
readyz=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")
if kill -0 "$daemon_pid" 2>/dev/null && [[ $healthz == 200 && $readyz != 200 ]]; then
	ok "6 s after the failure the daemon still runs: /healthz 200, /readyz $readyz (nothing synced)"
else
	alive=$(kill -0 "$daemon_pid" 2>/dev/null && echo yes || echo no)
	not_ok "6 s after the failure the daemon still runs" "alive: $alive, healthz $healthz readyz $readyz"
fi
# retry delays 1, 2, 4 s: at most 4 runs in the first 7 s, however many informers asked
n=$(runs)
if [[ $n -ge 2 && $n -le 5 ]]; then
	ok "a failing plugin is retried with a growing delay, not per request ($n runs in ~7 s)"
else
	not_ok "a failing plugin is retried with a growing delay, not per request" "$n runs in ~7 s"
fi
# it recovers once the plugin works again (the next retry is at most 30 s away)
rm -f "$tmp/fail"
if eventually 40 grep -q 'msg="credential plugin ran"' "$tmp/fail.log"; then
	ok "once the plugin works again the daemon uses its credential"
else
	not_ok "once the plugin works again the daemon uses its credential" "$(tail -n 3 "$tmp/fail.log")"
fi
namespaces_end
stop_daemon "SIGTERM after plugin failures: exit 0, no sanitizer report"
end
