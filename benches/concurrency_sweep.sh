#!/usr/bin/env bash
# Times `lockfetch fetch` at several `--concurrency` settings on a real registry: each round runs
# every setting once, in turn, each into a fresh cache; prints each setting's median and
# inter-quartile range. Not part of CI: it needs the network.
#
# usage: benches/concurrency_sweep.sh LOCKFILE|PROJECT-DIR [--registry URL] [--rounds N] [SETTING...]
#   --registry  default: `npm config get registry`
#   --rounds    default: 10
#   SETTING     default: 16 32 64 128
# env: LOCKFETCH=path/to/lockfetch (default: target/release/lockfetch, built if missing),
#      TMPDIR for the caches (each run's cache is deleted after it).
set -euo pipefail

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[[ $# -ge 1 ]] || usage
lockfiles=("$1")
shift
registry=""
rounds=10
settings=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --registry) registry=${2:?--registry needs a URL}; shift 2 ;;
        --rounds) rounds=${2:?--rounds needs a number}; shift 2 ;;
        [0-9]*) settings+=("$1"); shift ;;
        *) echo "unknown argument: $1" >&2; usage ;;
    esac
done
[[ ${#settings[@]} -gt 0 ]] || settings=(16 32 64 128)
source "$(dirname "$0")/network_common.sh"
lockfile=${lockfiles[0]}
declare -A times
for ((r = 1; r <= rounds; r++)); do
    for c in "${settings[@]}"; do
        start=$(date +%s.%N)
        "$bin" fetch --lockfile "$lockfile" --registry "$registry" --cache-dir "$work/cache" \
            --concurrency "$c" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
        end=$(date +%s.%N)
        rm -rf "$work/cache"
        t=$(echo "$end - $start" | bc -l | xargs printf '%.2f')
        times[$c]+="$t "
        echo "round $r: --concurrency $c ${t} s" >&2
    done
done

echo "$lockfile, $rounds rounds"
for c in "${settings[@]}"; do
    python3 - "$c" "${times[$c]}" <<'PY'
import statistics, sys
v = [float(x) for x in sys.argv[2].split()]
q = statistics.quantiles(v, n=4) if len(v) > 1 else [v[0], v[0], v[0]]
print(f"--concurrency {sys.argv[1]:>4}: median {statistics.median(v):.2f} s, "
      f"quartiles {q[0]:.2f}-{q[2]:.2f} s")
PY
done
