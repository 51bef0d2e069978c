#!/usr/bin/env bash
# Compares two builds of posad on this host at the same moments: both benchmarks run at
# once, each with its own sandbox, posad and 32 clients, so a slow spell of the host slows
# both alike. Prints each pair's settlements/s and posad's CPU per settlement, then B/A.
#
#   bench/his/compare.sh BUILD_A BUILD_B [PAIRS=4] [SECONDS=8]
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,6p' "$0"; exit 2; }
a=$1 b=$2 pairs=${3:-4} secs=${4:-8}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ratios=()
for i in $(seq 1 "$pairs"); do
  python3 "$here/run_bench.py" "$a" --clients 32 --seconds "$secs" > "$tmp/a" 2>&1 &
  python3 "$here/run_bench.py" "$b" --clients 32 --seconds "$secs" > "$tmp/b" 2>&1 &
  wait
  ra=$(awk '$1 == "posad" && $2 == 32 {print $3}' "$tmp/a")
  rb=$(awk '$1 == "posad" && $2 == 32 {print $3}' "$tmp/b")
  ca=$(grep -o 'posad [0-9.]* ms' "$tmp/a" | head -1)
  cb=$(grep -o 'posad [0-9.]* ms' "$tmp/b" | head -1)
  if [ -z "$ra" ] || [ -z "$rb" ]; then
    echo "pair $i: a run failed; its output:" >&2
    tail -5 "$tmp/a" "$tmp/b" >&2
    exit 1
  fi
  echo "pair $i: A $ra/s ($ca of CPU)   B $rb/s ($cb)   B/A $(awk -v a="$ra" -v b="$rb" 'BEGIN {printf "%.3f", b / a}')"
  ratios+=("$(awk -v a="$ra" -v b="$rb" 'BEGIN {print b / a}')")
done
printf '%s\n' "${ratios[@]}" |
  awk '{s += log($1); n++} END {printf "B/A, geometric mean of %d pairs: %.3f\n", n, exp(s / n)}'
