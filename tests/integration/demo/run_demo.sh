#!/usr/bin/env bash
# Runs scripts/demo-run --once inside fresh mount + network namespaces (a tmpfs on
# /run/pcscd, loopback up) and checks that the session settled and printed a statement.
set -euo pipefail
src=$1
build=$2
var=$(mktemp -d)
trap 'rm -rf "$var"' EXIT
if [ "$(id -u)" -ne 0 ] || ! unshare --mount --net true 2>/dev/null; then
    echo "run_demo: needs root and unshare; skipped"
    exit 77
fi
unshare --mount --net bash -c '
    set -e
    mkdir -p /run/pcscd
    mount -t tmpfs tmpfs /run/pcscd
    ip link set lo up
    POSA_VAR="$3" exec "$1/scripts/demo-run" --once --build "$2"
' run_demo "$src" "$build" "$var" | tee "$var/out.txt"
grep -q "state settled" "$var/out.txt"
grep -q "320211\*\*\*\*\*\*\*\*0157" "$var/statement.html"
echo "run_demo: settled, statement printed"
