# Shared by the shell test scripts: a tally and the paths every script needs. Source it; do not run it.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REF="$ROOT/../shared/reference/flink-kubernetes-operator"
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/    /'; return 0; }

# Prints the closing line and returns non-zero when anything failed. $1 names the suite.
finish() {
    echo "$1: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

# The upstream examples a FlinkDeployment user starts from: the top-level files of examples/.
top_level_examples() {
    [ -d "$REF/examples" ] || { echo "missing $REF/examples (../shared beside the repo)" >&2; return 1; }
    ls "$REF"/examples/*.yaml
}
