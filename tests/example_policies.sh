#!/bin/sh
# The example site policies (examples/policies/): each, assembled by running the recipe in its README, passes
# `flinkop check` with its own tests among them, and its preview input dry-runs to what the site's rules promise.
set -u
. "$(dirname "$0")/lib.sh"
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
EXAMPLES="$ROOT/examples/policies"

# The shell block after the README's marker line, without its first line (which picks the example and the place).
recipe() {
    awk '/^<!-- tests\/example_policies.sh runs the next block/ { found = 1; next }
         found && /^```sh$/ { inside = 1; next }
         inside && /^```$/ { exit }
         inside { print }' "$EXAMPLES/README.md" >"$work/recipe.sh"
    case $(head -n 1 "$work/recipe.sh") in
    "example="*" site="*) sed -i 1d "$work/recipe.sh" ;;
    *) echo "examples/policies/README.md: the recipe block must start with 'example=... site=...'" >&2; return 1 ;;
    esac
}

# assemble EXAMPLE: runs the recipe from the repository; the set is $work/EXAMPLE.
assemble() {
    (cd "$ROOT" && example=$1 site="$work/$1" sh -eu "$work/recipe.sh") 2>"$work/assemble.err"
}

# preview SCRIPT_DIR ARGS...: a dry-run from the repository (so messages name files as the README does) into
# $work/out, $work/err and $rc.
preview() {
    dir=$1
    shift
    (cd "$ROOT" && "$BIN" --dry-run --script-dir "$dir" "$@" >"$work/out" 2>"$work/err")
    rc=$?
    cat "$work/err" >>"$work/all.err"
}

# object KIND NAMESPACE NAME: the document of that object in $work/out ("" as NAMESPACE for a cluster-scoped one).
# object with no arguments: "KIND NAMESPACE NAME" of every object in $work/out.
object() {
    awk -v kind="${1-}" -v ns="${2-}" -v name="${3-}" '
        function flush() {
            if (kind == "" && k != "") print k, s, n
            else if (k == kind && s == ns && n == name) printf "%s", doc
            doc = k = s = n = top = ""
        }
        /^---$/ { flush(); next }
        { doc = doc $0 "\n" }
        /^[^ -]/ { top = $1 }
        /^kind: / { k = $2 }
        top == "metadata:" && /^  name: / { n = $2 }
        top == "metadata:" && /^  namespace: / { s = $2 }
        END { flush() }' "$work/out"
}

# has TEXT LINES: whether TEXT holds LINES (several lines, one after another).
has() {
    case $1 in *"$2"*) return 0 ;; esac
    return 1
}

# expect NAME CONDITION...: ok when the command succeeds, else not ok with the dry-run's stderr.
expect() {
    name=$1
    shift
    if "$@"; then ok "$name"; else not_ok "$name" "$(head -n 20 "$work/err")"; fi
}

# planned NAMESPACE NAME: the dry-run succeeded and planned the JobManager Deployment of that FlinkDeployment.
planned() { [ "$rc" -eq 0 ] && [ -n "$(object Deployment "$1" "$2")" ]; }

recipe || exit 1
for ex in team-rbac registry-allowlist jobmanager-defaults; do
    if ! assemble "$ex"; then
        not_ok "$ex: the README's recipe assembles the set" "$(cat "$work/assemble.err")"
        continue
    fi
    "$BIN" check --script-dir "$work/$ex" >"$work/check" 2>&1
    status=$?
    site_tests=$(grep -Ec '^ok - (rbac|reconcile)\.lua: ' "$work/check")
    if [ "$status" -ne 0 ] || ! grep -q '^check: [0-9]* passed, 0 failed$' "$work/check"; then
        not_ok "$ex: flinkop check passes" "$(grep -v '^ok - ' "$work/check")"
    elif [ "$site_tests" -eq 0 ]; then
        not_ok "$ex: flinkop check runs the site's own tests" "$(cat "$work/check")"
    else
        ok "$ex: flinkop check passes, $site_tests site rules among $(sed -n 's/^check: \([0-9]*\) passed.*/\1/p' "$work/check") tests"
    fi
done

# team-rbac -------------------------------------------------------------------------------------
site="$work/team-rbac"
preview "$site" -f examples/policies/team-rbac/team-namespaces.yaml
[ "$rc" -eq 0 ] || not_ok "team-rbac: the preview runs" "exit status $rc: $(cat "$work/err")"

expect "team-rbac: the team's Group may view its namespace" \
    [ "$(object RoleBinding fraud-detection risk-view)" = "$(cat <<'EOF'
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  annotations:
    flinkop.apache.org/owner: Namespace/fraud-detection
  labels:
    app.kubernetes.io/managed-by: flinkop
    example.com/team: risk
  name: risk-view
  namespace: fraud-detection
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: view
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: Group
  name: risk-devs
EOF
)" ]

expect "team-rbac: a namespace may name its team's Group" \
    has "$(object RoleBinding recommendations search-view)" "- apiGroup: rbac.authorization.k8s.io
  kind: Group
  name: search-oncall"

job_identity() { [ -n "$(object ServiceAccount "$1" flink)" ] && [ -n "$(object Role "$1" flink)" ] &&
    [ -n "$(object RoleBinding "$1" flink-role-binding)" ]; }
expect "team-rbac: team namespaces get the flink job identity" job_identity fraud-detection
expect "team-rbac: ... in each team namespace" job_identity recommendations
no_rbac_in_scratch() { [ "$rc" -eq 0 ] && ! object | grep -Eq '^(ServiceAccount|Role|RoleBinding) scratch '; }
expect "team-rbac: a namespace of no team gets no RBAC, though Flink runs in it" no_rbac_in_scratch
expect "team-rbac: ... and its FlinkDeployment is still planned" planned scratch experiment

preview . -f examples/policies/team-rbac/team-namespaces.yaml
expect "team-rbac: the defaults would give scratch the job identity (what the site changes)" job_identity scratch

preview "$site" --install
expect "team-rbac: the operator may bind the ClusterRole view" \
    has "$(object ClusterRole "" flink-operator)" "- apiGroups:
  - rbac.authorization.k8s.io
  resourceNames:
  - view
  resources:
  - clusterroles
  verbs:
  - bind"
expect "team-rbac: ... and no other role" [ "$(grep -c -- '- bind$' "$work/out")" -eq 1 ]

# registry-allowlist ------------------------------------------------------------------------------
site="$work/registry-allowlist"
preview "$site" -f examples/policies/registry-allowlist/site-image.yaml
site_images() {
    [ "$rc" -eq 0 ] && dep=$(object Deployment fraud-detection fraud-scoring) &&
        has "$dep" "        image: registry.example.com/flink:2.2" &&
        has "$dep" "      - image: registry.example.com/fluent-bit:3.0"
}
expect "registry-allowlist: images from the site registry are deployed" site_images

preview "$site" -f examples/policies/registry-allowlist/foreign-sidecar.yaml
want='examples/policies/registry-allowlist/foreign-sidecar.yaml:3: FlinkDeployment fraud-detection/fraud-scoring: spec.podTemplate.spec.containers[0].image: "fluent/fluent-bit:3.0" is refused (site rule: images come from registry.example.com/ only)'
refused() { [ "$rc" -eq 1 ] && [ ! -s "$work/out" ] && grep -qxF "$want" "$work/err"; }
expect "registry-allowlist: a sidecar from elsewhere is refused, naming the image and the rule, and nothing is made" \
    refused
preview . -f examples/policies/registry-allowlist/foreign-sidecar.yaml
expect "registry-allowlist: the defaults would deploy it (what the site changes)" planned fraud-detection fraud-scoring

# jobmanager-defaults -----------------------------------------------------------------------------
site="$work/jobmanager-defaults"
preview "$site" -f examples/policies/jobmanager-defaults/jobmanagers.yaml
[ "$rc" -eq 0 ] || not_ok "jobmanager-defaults: the preview runs" "exit status $rc: $(cat "$work/err")"
container_size() { # DEPLOYMENT_DOC CPU MEMORY
    has "$1" "        resources:
          limits:
            cpu: $2
            memory: $3
          requests:
            cpu: $2
            memory: $3
"
}
labelled() { # NAMESPACE NAME COST_CENTER
    dep=$(object Deployment "$1" "$2")
    has "$dep" "  labels:
    app: $2
    app.kubernetes.io/managed-by: flinkop
    component: jobmanager
    example.com/cost-center: $3
" && has "$dep" "      labels:
        app: $2
        component: jobmanager
        example.com/cost-center: $3
" && ! has "$(printf '%s' "$dep" | grep -A4 '^    matchLabels:')" "cost-center"
}
expect "jobmanager-defaults: a jobmanager of no size gets the site's size on its container" \
    container_size "$(object Deployment recommendations recommender)" 500m 1024Mi
expect "jobmanager-defaults: ... and in its flink configuration" \
    has "$(object ConfigMap recommendations flink-config-recommender)" "jobmanager.memory.process.size: 1 gb"
expect "jobmanager-defaults: a size its team gave is kept" \
    container_size "$(object Deployment sandbox experiment)" '"1"' 2048Mi
expect "jobmanager-defaults: the jobmanager and its pods carry the namespace's cost center" \
    labelled recommendations recommender cc-4200
expect "jobmanager-defaults: a namespace not in the list carries the platform's" \
    labelled sandbox experiment cc-1000-platform
preview . -f examples/policies/jobmanager-defaults/jobmanagers.yaml
expect "jobmanager-defaults: the defaults would refuse the jobmanager of no size (what the site changes)" \
    grep -q 'recommendations/recommender: spec.jobManager.resource.memory: required' "$work/err"

grep -q Sanitizer "$work/all.err" && not_ok "no sanitizer report from any dry-run" "$(grep -A20 Sanitizer "$work/all.err")"
finish example-policies
