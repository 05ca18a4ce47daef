#!/usr/bin/env bash
# Times `lockfetch fetch` (default settings) against `curl --parallel --parallel-max 64` over
# HTTP/2 and over HTTP/1.1 on the same tarball URLs of a real registry. Not part of CI: it needs
# the network. Each round runs the three modes (in a rotating order) with a fresh cache each;
# the table shows every run, the median, and lockfetch's median over the faster curl mode's.
#
# usage: benches/real_fetch.sh LOCKFILE|PROJECT-DIR [--registry URL] [--rounds N] [-- LOCKFETCH-FETCH-ARGS...]
#   --registry  default: `npm config get registry`
#   --rounds    default: 3
#   after --    extra arguments for `lockfetch fetch` (e.g. --concurrency 32); none by default
# env: LOCKFETCH=path/to/lockfetch (default: target/release/lockfetch, built if missing),
#      TMPDIR for the caches (each run's output is deleted after it).
set -euo pipefail

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[[ $# -ge 1 ]] || usage
lockfile=$1
shift
registry=""
rounds=3
extra=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --registry) registry=${2:?--registry needs a URL}; shift 2 ;;
        --rounds) rounds=${2:?--rounds needs a number}; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        *) echo "unknown argument: $1" >&2; usage ;;
    esac
done
source "$(dirname "$0")/network_common.sh"
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 2; }
curl --version | grep -q HTTP2 || { echo "this curl has no HTTP/2" >&2; exit 2; }

"$bin" fetch --lockfile "$lockfile" --registry "$registry" --list-urls >"$work/urls"
count=$(wc -l <"$work/urls")
[[ $count -gt 0 ]] || { echo "the lockfile lists no package to fetch" >&2; exit 1; }
awk -v dir="$work/out" '{ printf "url = \"%s\"\noutput = \"%s/%d.tgz\"\n", $0, dir, NR }' \
    "$work/urls" >"$work/curl.cfg"

now() { date +%s.%N; }

# run MODE: prints seconds; fails loudly if the run did not fetch everything.
run() {
    local mode=$1 start end
    rm -rf "$work/out"
    mkdir -p "$work/out"
    start=$(now)
    case $mode in
        lockfetch)
            "$bin" fetch --lockfile "$lockfile" --registry "$registry" --cache-dir "$work/out" \
                --json "${extra[@]}" >"$work/lockfetch.json" 2>"$work/lockfetch.err" || {
                cat "$work/lockfetch.err" >&2
                exit 1
            }
            ;;
        curl-h2 | curl-h1)
            local http=--http2
            [[ $mode == curl-h1 ]] && http=--http1.1
            curl --parallel --parallel-max 64 $http --fail --silent --show-error --no-progress-meter \
                --config "$work/curl.cfg" || { echo "curl ($mode) failed" >&2; exit 1; }
            ;;
    esac
    end=$(now)
    if [[ $mode == lockfetch ]]; then
        python3 - "$work/lockfetch.json" "$count" <<'PY' || exit 1
import json, sys
r = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
bad = []
if r["failed"]: bad.append(f"{len(r['failed'])} failed")
if r["duplicate_fetches"]: bad.append(f"{r['duplicate_fetches']} duplicate fetches")
if r["fetched"] != n: bad.append(f"fetched {r['fetched']} of {n}")
if r["integrity_verified"] != r["fetched"]: bad.append("not every download verified")
if bad: sys.exit("lockfetch: " + ", ".join(bad))
PY
    else
        local got
        got=$(find "$work/out" -name '*.tgz' | wc -l)
        [[ $got -eq $count ]] || { echo "$mode wrote $got of $count files" >&2; exit 1; }
    fi
    echo "$end - $start" | bc -l | xargs printf '%.2f\n'
}

modes=(lockfetch curl-h2 curl-h1)
declare -A times
for ((r = 0; r < rounds; r++)); do
    for ((i = 0; i < 3; i++)); do
        mode=${modes[$(((i + r) % 3))]}
        t=$(run "$mode")
        times[$mode]+="$t "
        echo "round $((r + 1)): $mode ${t} s" >&2
    done
done
mb=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["bytes"] / 1e6))' \
    "$work/lockfetch.json")

python3 - "$lockfile" "$count" "$mb" "${times[lockfetch]}" "${times[curl-h2]}" \
    "${times[curl-h1]}" "${extra[*]:-}" <<'PY'
import statistics, sys
lockfile, count, mb = sys.argv[1], int(sys.argv[2]), sys.argv[3]
runs = {m: [float(x) for x in sys.argv[i].split()]
        for i, m in ((4, "lockfetch"), (5, "curl-h2"), (6, "curl-h1"))}
extra = sys.argv[7]
med = {m: statistics.median(v) for m, v in runs.items()}
best = min(med["curl-h2"], med["curl-h1"])
label = "lockfetch fetch" + (f" {extra}" if extra else " (defaults)")
print(f"{lockfile}: {count} tarballs, {mb} MB")
print(f"| {'mode':<40} | {'runs (s)':<20} | median (s) | / best curl |")
print(f"|{'-'*42}|{'-'*22}|-----------:|------------:|")
names = {"lockfetch": label, "curl-h2": "curl --parallel-max 64 --http2",
         "curl-h1": "curl --parallel-max 64 --http1.1"}
for m in ("lockfetch", "curl-h2", "curl-h1"):
    rs = " ".join(f"{x:.2f}" for x in runs[m])
    print(f"| {names[m]:<40} | {rs:<20} | {med[m]:10.2f} | {med[m]/best:10.2f}x |")
PY
