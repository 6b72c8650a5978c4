#!/usr/bin/env bash
# Every upstream example under ../shared/reference/flink-kubernetes-operator/examples/ (recursively) against the real
# control plane, in two layers:
#  (a) offline: `flinkop --dry-run` renders each example that holds a FlinkDeployment or FlinkSessionJob, and
#      `kubectl apply --dry-run=server` of the rendered stream passes the apiserver's validation, every object;
#  (b) live: each example is applied into a namespace of its own (a session-job-only example into the namespace of
#      the session cluster it names), one daemon reconciles them all at once, and each FlinkDeployment gets the
#      JobManager objects with upstream's owner chain, a lifecycleState and no status.error; a FlinkSessionJob owns
#      nothing.
# Files that are no examples of ours to apply are named with the reason, never dropped silently.
# Run under tests/cluster/with-cluster; needs build/asan/flinkop (make does it).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${FLINKOP_BIN:-$repo/build/asan/flinkop}
ref=$repo/../shared/reference/flink-kubernetes-operator
tmp=$(mktemp -d)
run=ex$$
log=$tmp/daemon.log

# The examples' namespaces go with the suite. The daemon is stopped first, so the finalizers it put on the
# resources are taken off by hand: nothing would, and the namespaces would never finish terminating.
finish() {
	[[ -n ${daemon_pid:-} ]] && { kill -9 "$daemon_pid"; wait "$daemon_pid"; } 2>/dev/null
	local ns name
	for ns in ${namespaces:-}; do
		k -n "$ns" get flinkdeployments,flinksessionjobs -o name 2>/dev/null | while read -r name; do
			k -n "$ns" patch "$name" --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1 &
		done
	done
	wait
	for ns in ${namespaces:-}; do k delete namespace "$ns" --wait=false >/dev/null 2>&1 & done
	wait
	suite_end examples
}
# shellcheck source=cluster_lib.sh
. "$repo/tests/cluster_lib.sh"
skip() { ok "$1 # SKIP $2"; }

suite_t0=$SECONDS
[[ -n ${KUBECONFIG:-} && -n ${KUBECTL:-} ]] || { not_ok "environment" "run under tests/cluster/with-cluster"; finish; }
[[ -x $bin ]] || { not_ok "environment" "$bin is not built"; finish; }
command -v python3 >/dev/null && python3 -c 'import yaml' 2>/dev/null ||
	{ not_ok "environment" "python3 with PyYAML splits the examples"; finish; }
[[ -d $ref/examples ]] || { not_ok "environment" "missing $ref/examples"; finish; }
k apply --server-side -f "$ref/helm/flink-kubernetes-operator/crds/" >/dev/null &&
	k wait --for condition=established crd --all --timeout=60s >/dev/null || { not_ok "CRDs installed"; finish; }

# The kinds this apiserver serves, "apiVersion Kind" a line: an object of another kind cannot be applied here.
k api-resources --no-headers | awk '{ print $(NF - 2), $NF }' >"$tmp/kinds"

# slug_of FILE: FILE's path under examples/ as a name part ("flink-tls-example-basic-secure"); a kustomization's
# build output is named for its directory.
slug_of() {
	local f=${1%.yaml}
	f=${f#"$tmp/kustomize-"}
	echo "$f" | tr 'A-Z_./' 'a-z---'
}

# examples.py RUN TMP EXAMPLES FILE...: gives each example FILE (a path under EXAMPLES, or a kustomization's build
# output) the namespace RUN-SLUG, or, for a file of session jobs alone, the namespace of the session cluster they
# name (as upstream's README applies them), and prints "FILE NS" for each. Writes TMP/SLUG.yaml, FILE's objects of a
# kind TMP/kinds lists, with that namespace, and TMP/SLUG.what, what each document is, a line each:
#   deployment NAME FLAGS   a FlinkDeployment; FLAGS: native|standalone, ha|noha, ingress|noingress, canary|app
#   sessionjob NAME DEPLOYMENT
#   other KIND NAME         any other object of a served kind
#   unserved APIVERSION KIND NAME
cat >"$tmp/examples.py" <<'EOF'
import os, sys, yaml

def flat(cfg, prefix=""):
    out = {}
    for k, v in (cfg or {}).items():
        if isinstance(v, dict):
            out.update(flat(v, prefix + str(k) + "."))
        else:
            out[prefix + str(k)] = v
    return out

def ha(spec):
    # Flink's HighAvailabilityMode.isHighAvailabilityModeActivated: high-availability.type (or the older
    # high-availability) set to anything but NONE.
    cfg = flat(spec.get("flinkConfiguration"))
    mode = str(cfg.get("high-availability.type", cfg.get("high-availability", "NONE")) or "NONE")
    return mode.upper() != "NONE"

def slug(f):  # as slug_of
    f = f[:-len(".yaml")] if f.endswith(".yaml") else f
    f = f[len(tmp + "/kustomize-"):] if f.startswith(tmp + "/kustomize-") else f
    return f.lower().replace("_", "-").replace(".", "-").replace("/", "-")

def describe(doc):
    kind, name, spec = doc["kind"], doc.get("metadata", {}).get("name", ""), doc.get("spec") or {}
    if (doc.get("apiVersion", ""), kind) not in served:
        return "unserved %s %s %s" % (doc.get("apiVersion", ""), kind, name)
    if kind == "FlinkDeployment":
        labels = doc["metadata"].get("labels") or {}
        return "deployment %s %s" % (name, ",".join([
            "standalone" if spec.get("mode") == "standalone" else "native",
            "ha" if ha(spec) else "noha",
            "ingress" if spec.get("ingress") else "noingress",
            "canary" if str(labels.get("flink.apache.org/canary")) == "true" else "app"]))
    if kind == "FlinkSessionJob":
        return "sessionjob %s %s" % (name, spec.get("deploymentName", ""))
    return "other %s %s" % (kind, name)

run, tmp, examples, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
served = {tuple(line.split()) for line in open(os.path.join(tmp, "kinds")) if line.strip()}
docs, ns, cluster_ns = {}, {}, {}
for f in files:
    path = f if f.startswith("/") else os.path.join(examples, f)
    docs[f] = [d for d in yaml.safe_load_all(open(path)) if isinstance(d, dict) and "kind" in d]
    ns[f] = run + "-" + slug(f)
    for d in docs[f]:
        if d["kind"] == "FlinkDeployment": cluster_ns[d["metadata"]["name"]] = ns[f]
for f in files:
    kinds = {d["kind"] for d in docs[f]}
    if "FlinkSessionJob" in kinds and "FlinkDeployment" not in kinds:
        session = next(d["spec"].get("deploymentName") for d in docs[f] if d["kind"] == "FlinkSessionJob")
        ns[f] = cluster_ns.get(session, ns[f])
    what = [describe(d) for d in docs[f]]
    keep = [d for d, w in zip(docs[f], what) if not w.startswith("unserved ")]
    for d in keep: d.setdefault("metadata", {})["namespace"] = ns[f]
    with open(os.path.join(tmp, slug(f) + ".yaml"), "w") as out: yaml.safe_dump_all(keep, out, sort_keys=False)
    with open(os.path.join(tmp, slug(f) + ".what"), "w") as out: out.write("".join(w + "\n" for w in what))
    print(f, ns[f])
EOF

# The kustomizations patch the output of upstream's Helm chart (`helm template ... > template.yaml`), the operator's
# own install, not a FlinkDeployment; they are built when they build offline, and named with the reason when not.
files=()
for dir in "$ref"/examples/kustomize/*/; do
	rel=${dir#"$ref/examples/"}
	rel=${rel%/}
	out=$tmp/kustomize-${rel//\//-}.yaml
	if k kustomize "$dir" >"$out" 2>"$tmp/kustomize.err"; then
		files+=("$out")
	else
		skip "$rel/ (kustomization.yaml and its $(cd "$dir" && ls | grep -vx kustomization.yaml | tr '\n' ' ' | sed 's/ $//'))" \
			"does not build offline: it patches template.yaml, the output of upstream's operator Helm chart, which the examples do not hold"
	fi
done

# Every other example file, named by its path under examples/.
while IFS= read -r f; do files+=("$f"); done < <(cd "$ref/examples" && find . -name '*.yaml' ! -path './kustomize/*' | sed 's|^\./||' | sort)
declare -A ns_of
while read -r f ns; do ns_of[$f]=$ns; done < <(python3 "$tmp/examples.py" "$run" "$tmp" "$ref/examples" "${files[@]}")
[[ ${#ns_of[@]} -eq ${#files[@]} ]] || { not_ok "every example file is read" "${#ns_of[@]} of ${#files[@]}"; finish; }
namespaces=$(printf '%s\n' "${ns_of[@]}" | sort -u)
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n---\n' $namespaces | k create -f - >/dev/null ||
	{ not_ok "the examples' namespaces are created"; finish; }

# (b) first half: the apiserver accepts every example as it is (with its namespace), every document of a served
# kind; documents of other kinds are named. A kubectl per file (its errors name no file), in parallel.
for f in "${files[@]}"; do
	slug=$(slug_of "$f")
	grep -qv '^unserved ' "$tmp/$slug.what" || continue
	k apply -f "$tmp/$slug.yaml" >/dev/null 2>"$tmp/$slug.apply.err" || echo refused >>"$tmp/$slug.apply.err" &
done
wait
examples=0 objects=0
for f in "${files[@]}"; do
	slug=$(slug_of "$f")
	while read -r _ api kind name; do
		skip "$f: $kind $name" "$api is not served here: no CRD for it is installed (pre-install.yaml's cert-manager objects make the TLS examples' certificates)"
	done < <(grep '^unserved ' "$tmp/$slug.what")
	n=$(grep -vc '^unserved ' "$tmp/$slug.what")
	if [[ $n -eq 0 ]]; then
		skip "$f" "holds no object of a kind served here"
	elif [[ -s $tmp/$slug.apply.err ]]; then
		not_ok "the apiserver accepts $f" "$(cat "$tmp/$slug.apply.err")"
	else
		ok "the apiserver accepts $f ($n object(s): $(grep -v '^unserved ' "$tmp/$slug.what" | awk '{ printf "%s%s", sep, ($1 == "other" ? $2 " " $3 : $1 " " $2); sep = ", " }'))"
		examples=$((examples + 1)) objects=$((objects + n))
	fi
done

# (a) the offline render of each example with a FlinkDeployment or FlinkSessionJob (in parallel), validated by the
# apiserver without writing (dry-run=server: schema, defaults, admission); the daemon does not run yet, so nothing
# it made could turn a create into an update.
render() {
	if ! "$bin" --dry-run --script-dir "$repo" -f "$tmp/$1.yaml" >"$tmp/$1.render" 2>"$tmp/$1.render.err"; then
		echo failed >"$tmp/$1.render.failed"
	elif ! k apply --dry-run=server -f "$tmp/$1.render" >/dev/null 2>"$tmp/$1.server.err"; then
		echo refused >>"$tmp/$1.server.err"
	fi
}
renders=()
for f in "${files[@]}"; do
	slug=$(slug_of "$f")
	grep -q '^deployment \|^sessionjob ' "$tmp/$slug.what" || continue
	renders+=("$f")
	render "$slug" &
done
wait
rendered=0
for f in "${renders[@]}"; do
	slug=$(slug_of "$f")
	r=$tmp/$slug.render
	n=$(grep -c '^kind:' "$r")
	kinds=$(grep '^kind:' "$r" | awk '{ print $2 }' | sort | uniq -c | awk '{ printf "%s%s %s", sep, $1, $2; sep = ", " }')
	if [[ -e $tmp/$slug.render.failed ]]; then
		not_ok "flinkop --dry-run renders $f" "$(tail -n 3 "$tmp/$slug.render.err")"
	elif [[ -s $tmp/$slug.server.err ]]; then
		not_ok "every object flinkop renders for $f passes apply --dry-run=server" "$(cat "$tmp/$slug.server.err")"
	else
		ok "every object flinkop renders for $f passes apply --dry-run=server ($n: $kinds)"
		rendered=$((rendered + n))
	fi
done

echo "# $((SECONDS - suite_t0)) s: examples applied and rendered"
# (b) second half: one daemon for every namespace.
t0=$EPOCHREALTIME
daemon_start "$log" --kubeconfig "$KUBECONFIG" --script-dir "$repo" --operator-namespace "$run-op" \
	--kube-qps 100 || { not_ok "the daemon starts" "$(tail -n 5 "$log")"; finish; }

# check.py EXPECT < cluster objects (JSON list): judges every resource EXPECT names ("FILE NS what NAME FLAGS" a
# line) against upstream, one line each: "ok<TAB>name" or "not ok<TAB>name<TAB>problems".
# Exit 0 when none is "not ok". The owner chain as upstream: the JobManager Deployment (and the TaskManager
# Deployment in standalone mode) owned by the FlinkDeployment with blockOwnerDeletion but not as its controller
# (AbstractFlinkResourceReconciler.setOwnerReference), the rest owned by the JobManager Deployment with both (Flink's
# Fabric8FlinkKubeClient.setOwnerReference, the operator's IngressUtils); a canary (CanaryResourceManager) and a
# FlinkSessionJob own nothing.
cat >"$tmp/check.py" <<'PY'
import json, sys

objs = {}
for o in json.load(sys.stdin)["items"]:
    m = o["metadata"]
    objs[(m.get("namespace"), o["kind"], m["name"])] = o

def refs(o):
    return [(r["apiVersion"], r["kind"], r["name"], r["uid"], r.get("controller", False), r.get("blockOwnerDeletion", False))
            for r in o["metadata"].get("ownerReferences", [])]

def owned_by_kind(ns, kind):
    return sorted(o["kind"] + "/" + key[2] for key, o in objs.items()
                  if key[0] == ns and any(r[1] == kind for r in refs(o)))

bad = False
for line in open(sys.argv[1]):
    f, ns, what, name, flags = line.split()
    if what == "deployment":
        fd = objs.get((ns, "FlinkDeployment", name))
        st = fd.get("status") or {}
        title = "%s: FlinkDeployment %s (%s)" % (f, name, flags)
        problems = []
        if "canary" in flags:
            owned = owned_by_kind(ns, "FlinkDeployment")
            if owned: problems.append("owns %s" % owned)
            if (ns, "Deployment", name) in objs: problems.append("has a Deployment")
            if "flinkdeployments.flink.apache.org/finalizer" not in fd["metadata"].get("finalizers", []):
                problems.append("not reconciled yet (no finalizer)")
            if st.get("error"): problems.append("status.error %s" % st["error"])
            print(("not ok\t%s owns nothing\t%s" if problems else "ok\t%s: reconciled (finalizer) and owns nothing%s") %
                  (title, "; ".join(problems)))
            bad |= bool(problems)
            continue
        fd_ref = ("flink.apache.org/v1beta1", "FlinkDeployment", name, fd["metadata"]["uid"], False, True)
        dep = objs.get((ns, "Deployment", name))
        want = [("Deployment", name, [fd_ref])]
        if "standalone" in flags:
            want.append(("Deployment", name + "-taskmanager", [fd_ref]))
        dep_ref = dep and ("apps/v1", "Deployment", name, dep["metadata"]["uid"], True, True)
        want += [("Service", name + "-rest", [dep_ref]), ("ConfigMap", "flink-config-" + name, [dep_ref])]
        if "noha" in flags: want.append(("Service", name, [dep_ref]))
        if "native" in flags: want.append(("ConfigMap", "pod-template-" + name, [dep_ref]))
        if ",ingress" in flags: want.append(("Ingress", name, [dep_ref]))
        for kind, n, owners in want:
            o = objs.get((ns, kind, n))
            if o is None: problems.append("no %s/%s" % (kind, n))
            elif refs(o) != owners: problems.append("%s/%s owners %s" % (kind, n, refs(o)))
        if not st.get("lifecycleState"): problems.append("no status.lifecycleState")
        if st.get("error"): problems.append("status.error %s" % st["error"])
        if problems:
            print("not ok\t%s gets its objects with upstream's owners and a clean status\t%s" % (title, "; ".join(problems)))
            bad = True
        else:
            print("ok\t%s gets its %d objects with upstream's owners, lifecycleState %s and no status.error"
                  % (title, len(want), st["lifecycleState"]))
    elif what == "sessionjob":
        sj = objs.get((ns, "FlinkSessionJob", name))
        st = sj.get("status") or {}
        title = "%s: FlinkSessionJob %s (session cluster %s)" % (f, name, flags)
        owned = owned_by_kind(ns, "FlinkSessionJob")
        if st.get("lifecycleState") and not owned:
            print("ok\t%s owns no object and has lifecycleState %s" % (title, st["lifecycleState"]))
        else:
            print("not ok\t%s owns no object and has a lifecycleState\tlifecycleState %r, owns %s" % (title, st.get("lifecycleState"), owned))
            bad = True
        # Upstream's SessionJobReconciler.readyToReconcile waits, without an error, until the session cluster's
        # jobManagerDeploymentStatus is READY; here no JobManager ever starts.
        title = "%s: FlinkSessionJob %s has no status.error while its session cluster is not READY" % (f, name)
        if not st.get("error"):
            print("ok\t" + title)
        else:
            print("not ok\t%s\t%s" % (title, json.loads(st["error"]).get("message", "")[:110]))
            bad = True
sys.exit(1 if bad else 0)
PY
for f in "${files[@]}"; do
	while read -r what name flags; do
		[[ $what == deployment || $what == sessionjob ]] && echo "$f ${ns_of[$f]} $what $name $flags"
	done <"$tmp/$(slug_of "$f").what"
done >"$tmp/expect"
# judged: one snapshot of everything the examples' namespaces hold, judged; the verdicts in $tmp/verdicts.
judged() {
	k get deployments,services,configmaps,ingresses,flinkdeployments,flinksessionjobs -A -o json >"$tmp/objects.json" &&
		python3 "$tmp/check.py" "$tmp/expect" <"$tmp/objects.json" >"$tmp/verdicts"
}
if eventually 90 judged; then
	converged="$(awk -v t0="$t0" -v t1="$EPOCHREALTIME" 'BEGIN { printf "%.1f", t1 - t0 }') s after the daemon started"
else
	converged="not within 90 s of the daemon's start"
fi
made=0
while IFS=$'\t' read -r verdict name why; do
	case $verdict in
	ok) ok "$name" ;;
	*) not_ok "$name" "$why" ;;
	esac
done <"$tmp/verdicts"
deployments=$(grep -c ' deployment ' "$tmp/expect")
sessionjobs=$(grep -c ' sessionjob ' "$tmp/expect")
made=$(sed -n 's/.*gets its \([0-9]*\) objects.*/\1/p' "$tmp/verdicts" | awk '{ n += $1 } END { print n + 0 }')

if grep -q "Sanitizer" "$log"; then
	not_ok "the daemon ran without a sanitizer report" "$(grep -A3 -m1 Sanitizer "$log")"
fi
echo "# $((SECONDS - suite_t0)) s in all"
echo "# $examples example files ($objects objects) accepted; $rendered rendered objects pass dry-run=server; $deployments FlinkDeployments and $sessionjobs FlinkSessionJobs checked; $made objects made with their owners; all as expected: $converged"
finish
