#!/usr/bin/env bash
# Policy from a ConfigMap against the real control plane: `flinkop run` without --script-dir reads the policy
# ConfigMap `flinkop install` made; an edit reaches every managed namespace within seconds; a policy with a
# syntax error, a run-time error, an endless loop, an unbounded allocation, or one that would delete every
# RoleBinding is refused with a Warning Event naming file:line or the guard, and the last good policy keeps
# reconciling.
# Run under tests/cluster/with-cluster; needs build/asan/flinkop (make does it).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${FLINKOP_BIN:-$repo/build/asan/flinkop}
tmp=$(mktemp -d)
run=pr$$
op=$run-op
cm=flinkop-policy

finish() {
	[[ -n ${daemon_pid:-} ]] && kill -9 "$daemon_pid" 2>/dev/null
	k delete namespace "$op" "$run-a" "$run-b" "$run-c" "$run-d" --wait=false >/dev/null 2>&1
	suite_end policy-reload
}
# shellcheck source=cluster_lib.sh
. "$repo/tests/cluster_lib.sh"
has_port() { [[ -n $(probe_port_in "$tmp/daemon.log") ]]; }
# site DIR: a copy of the repository's policy set to edit.
site() { rm -rf "$1" && mkdir -p "$1" && cp -r "$repo/rbac.lua" "$repo/reconcile.lua" "$repo/scripts" "$1/"; }
# push DIR: replace the policy ConfigMap's data with DIR's files, keyed by base name, as a platform team would.
push() {
	k -n "$op" create configmap "$cm" --from-file="$1" --from-file="$1/scripts" --dry-run=client -o yaml |
		k apply --server-side -f - >/dev/null
}
refusals() {
	k -n "$op" get events --field-selector "involvedObject.name=$cm,reason=PolicyRefused" \
		-o jsonpath='{range .items[*]}{.message}{"\n"}{end}'
}
role_label() { k -n "$1" get role flink -o jsonpath='{.metadata.labels.example\.com/policy}' 2>/dev/null; }

[[ -n ${KUBECONFIG:-} && -n ${KUBECTL:-} ]] || { not_ok "environment" "run under tests/cluster/with-cluster"; finish; }
[[ -x $bin ]] || { not_ok "environment" "$bin is not built"; finish; }

"$bin" install --script-dir "$repo" --operator-namespace "$op" | k apply --server-side -f - >/dev/null ||
	{ not_ok "flinkop install applies"; finish; }
for ns in "$run-a" "$run-b"; do
	k create namespace "$ns" >/dev/null
	k label namespace "$ns" flinkop.apache.org/flink-rbac=enabled >/dev/null
done
"$bin" run --kubeconfig "$KUBECONFIG" --operator-namespace "$op" --probe-address 127.0.0.1:0 \
	--resync-interval 30 >"$tmp/daemon.log" 2>&1 &
daemon_pid=$!
eventually 10 has_port || { not_ok "the daemon starts" "$(tail -n 5 "$tmp/daemon.log")"; finish; }
port=$(probe_port_in "$tmp/daemon.log")
if eventually 20 k -n "$run-b" get role flink && grep -q 'msg="policy loaded"' "$tmp/daemon.log"; then
	ok "without --script-dir the daemon runs the policy from ConfigMap $op/$cm"
else
	not_ok "without --script-dir the daemon runs the policy from the ConfigMap" "$(tail -n 5 "$tmp/daemon.log")"
fi

# --- an edit reaches every managed namespace ---
site "$tmp/v2"
sed -i 's|  return { \["app.kubernetes.io/name"\] = "flink-kubernetes-operator", |  return { ["example.com/policy"] = "v2", ["app.kubernetes.io/name"] = "flink-kubernetes-operator", |' \
	"$tmp/v2/rbac.lua"
grep -q 'example.com/policy' "$tmp/v2/rbac.lua" || { not_ok "the v2 policy edit applies to rbac.lua"; finish; }
push "$tmp/v2"
t0=$(date +%s.%N)
labelled() { [[ $(role_label "$run-a") == v2 && $(role_label "$run-b") == v2 && $(role_label "$op") == v2 ]]; }
if eventually 10 labelled; then
	took=$(echo "$(date +%s.%N) - $t0" | bc)
	if (($(echo "$took <= 2.5" | bc))); then
		ok "an edited ConfigMap relabels every managed flink Role (${took}s)"
	else
		not_ok "an edited ConfigMap relabels every managed flink Role within 2 s" "${took}s"
	fi
else
	not_ok "an edited ConfigMap relabels every managed flink Role" "a='$(role_label "$run-a")' b='$(role_label "$run-b")'"
fi
hash_v2=$(metrics_at "$port" | sed -n 's/^flinkop_policy_info{hash="\([0-9a-f]*\)"} 1$/\1/p')
loaded_event() {
	k -n "$op" get events --field-selector "involvedObject.name=$cm,reason=PolicyLoaded" \
		-o jsonpath='{range .items[*]}{.message}{"\n"}{end}' | grep -q "policy $hash_v2 loaded"
}
if [[ -n $hash_v2 ]] && grep -q "msg=\"policy loaded\".*hash=$hash_v2" "$tmp/daemon.log" && eventually 5 loaded_event; then
	ok "the new policy's hash is in /metrics, the log and a PolicyLoaded Event ($hash_v2)"
else
	not_ok "the new policy's hash is in /metrics, the log and an Event" \
		"metric hash '$hash_v2'; $(grep -c 'policy loaded' "$tmp/daemon.log") log lines; events: $(loaded_event && echo yes)"
fi

# --- bad policies are refused and the last good one stays ---
# refused NAME EXPECT: push $tmp/bad, then wait for a PolicyRefused Event whose message matches EXPECT.
refused() {
	local before
	before=$(refusals | wc -l)
	push "$tmp/bad"
	if eventually 20 bash -c "[[ \$(k() { '$KUBECTL' --kubeconfig '$KUBECONFIG' \"\$@\"; }; k -n '$op' get events \
		--field-selector 'involvedObject.name=$cm,reason=PolicyRefused' -o name | wc -l) -gt $before ]]" &&
		refusals | grep -qE "$2"; then
		ok "$1 is refused: $(refusals | grep -E "$2" | head -n 1 | cut -c1-150)"
	else
		not_ok "$1 is refused with a message matching /$2/" "events: $(refusals | tail -n 2)"
	fi
}
site "$tmp/bad"
cp "$tmp/v2/rbac.lua" "$tmp/bad/rbac.lua"
echo 'local broken = = 1' >>"$tmp/bad/scripts/k8s.lua"
refused "a syntax error" 'k8s\.lua:[0-9]+'

site "$tmp/bad"
cp "$tmp/v2/rbac.lua" "$tmp/bad/rbac.lua"
sed -i 's|^function M.namespace(ns, ctx)$|&\n  if ns.metadata.name ~= "no-such" then error("site rule broken") end|' "$tmp/bad/rbac.lua"
refused "a run-time error" 'rbac\.lua:[0-9]+:.*site rule broken'

sed -i 's|error("site rule broken")|while true do end|' "$tmp/bad/rbac.lua"
refused "an endless loop" 'instruction budget.*rbac\.lua:[0-9]+'

sed -i 's|while true do end|local t = {} while true do t[#t + 1] = string.rep("x", 4096) .. #t end|' "$tmp/bad/rbac.lua"
refused "an unbounded allocation" 'memory'

site "$tmp/bad"
cp "$tmp/v2/rbac.lua" "$tmp/bad/rbac.lua"
# Keeps everything but the RoleBindings, and drops the self-tests that would notice: only the guard is left.
sed -i 's|^return M$|local every = M.namespace\nfunction M.namespace(ns, ctx)\n  local out = json.array()\n  for _, o in ipairs(every(ns, ctx)) do if o.kind ~= "RoleBinding" then out[#out + 1] = o end end\n  return out\nend\nM.tests = nil\nreturn M|' \
	"$tmp/bad/rbac.lua"
refused "a policy deleting every RoleBinding" 'blast-radius guard: the new policy would delete [0-9]+ of the [0-9]+'
k -n "$run-a" get rolebinding flink-role-binding >/dev/null 2>&1 && ok "the RoleBindings are still there" ||
	not_ok "the RoleBindings are still there"

refused_count=$(metrics_at "$port" | awk '/^flinkop_policy_reloads_total\{result="refused"\}/ { print $NF }')
[[ ${refused_count%.*} -ge 5 ]] && ok "refusals are counted in /metrics ($refused_count)" ||
	not_ok "refusals are counted in /metrics" "flinkop_policy_reloads_total refused=$refused_count"

# The last good policy (v2) still reconciles: a namespace labelled in now gets v2's Role.
k create namespace "$run-c" >/dev/null
k label namespace "$run-c" flinkop.apache.org/flink-rbac=enabled >/dev/null
if eventually 10 bash -c "[[ \$('$KUBECTL' --kubeconfig '$KUBECONFIG' -n '$run-c' get role flink \
	-o jsonpath='{.metadata.labels.example\.com/policy}' 2>/dev/null) == v2 ]]"; then
	ok "after the refusals the last good policy keeps reconciling (a new namespace gets v2's Role)"
else
	not_ok "after the refusals the last good policy keeps reconciling" "$(tail -n 3 "$tmp/daemon.log")"
fi

# The blast-radius guard yields to the ConfigMap's annotation.
k -n "$op" annotate configmap "$cm" flinkop.apache.org/max-prune-percent=100 >/dev/null
push "$tmp/bad"
if eventually 15 bash -c "! '$KUBECTL' --kubeconfig '$KUBECONFIG' -n '$run-a' get rolebinding flink-role-binding"; then
	ok "with max-prune-percent=100 annotated, the same policy is accepted and prunes the RoleBindings"
else
	not_ok "with max-prune-percent=100 annotated, the same policy is accepted" "$(grep 'policy' "$tmp/daemon.log" | tail -n 3)"
fi

kill -TERM "$daemon_pid"
wait "$daemon_pid"
rc=$?
daemon_pid=
((rc == 0)) && ok "SIGTERM stops the daemon with status 0, no sanitizer report" ||
	not_ok "SIGTERM stops the daemon with status 0" "exit $rc: $(grep -m1 -A5 Sanitizer "$tmp/daemon.log")"
finish
