#!/bin/sh
# valgrind finds no leak and no memory error in the dry-run of any upstream example, nor in `check`.
set -u
. "$(dirname "$0")/lib.sh"
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
examples=$(top_level_examples) || exit 1
command -v valgrind >/dev/null || { not_ok "valgrind is installed"; finish valgrind; exit 1; }

vg() {
    valgrind --quiet --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all --error-exitcode=99 \
        "$@" >/dev/null 2>"$log"
}

log=$(mktemp)
for ex in $examples; do
    vg "$BIN" --dry-run --script-dir "$ROOT" -f "$ex"
    rc=$?
    if [ "$rc" -eq 99 ] || [ "$rc" -gt 1 ]; then
        not_ok "valgrind clean on the dry-run of $(basename "$ex")" "$(head -n 30 "$log")"
    else
        ok "valgrind clean on the dry-run of $(basename "$ex")"
    fi
done
if vg "$BIN" check --script-dir "$ROOT"; then ok "valgrind clean on check"; else not_ok "valgrind clean on check" "$(head -n 30 "$log")"; fi
if vg "$BIN" --dry-run --script-dir "$ROOT" --install; then ok "valgrind clean on --install"; else not_ok "valgrind clean on --install" "$(head -n 30 "$log")"; fi
rm -f "$log"
finish valgrind
