#!/usr/bin/env bash
# Times real installs of one project with a baseline and a patched `pnpm` (pacquet) binary, in
# alternating rounds, on the real registry. Not part of CI: it needs the network.
#
# usage: bench.sh PROJECT_DIR --baseline BIN --patched BIN [--released BIN] [--rounds N]
#                 [--modes fresh,frozen] [--out FILE.tsv]
#   PROJECT_DIR  a directory with package.json (and pnpm-lock.yaml for the frozen mode)
#   --baseline   the unpatched binary; --patched: the binary built from the same tree with the patch
#   --released   another binary (e.g. the released pnpm 12) run once per mode, after the rounds
#   --rounds     rounds per mode (default 5); each round runs both binaries, in turns
#   --modes      fresh: `pnpm install` with no lockfile (resolution, prefetch, cold batch);
#                frozen: `pnpm install --frozen-lockfile`. Default: both.
#   --out        also append every run to FILE.tsv
# or: bench.sh --summarize FILE.tsv   prints the tables of the runs in FILE.tsv
#
# Every run starts cold: a fresh copy of the project, a fresh store (--store-dir) and a fresh metadata
# cache (XDG_CACHE_HOME). Per run: wall time and peak RSS (GNU time), and downloads per tarball,
# counted from the binary's own "Download completed" trace lines (TRACE=pacquet::download=info,
# TRACE_FORMAT=json), so a tarball fetched twice shows as a duplicate whichever binary does it.
# Scripts are not run (--ignore-scripts): a build script's time is not the scheduler's. An install
# that takes over 10 minutes is stopped and fails the benchmark.
set -euo pipefail

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
# summary TSV: one table row per project, mode and binary (median and range of the wall time,
# median peak RSS, tarballs, duplicate downloads summed over the runs), then per project and mode
# the patched binary against the baseline: the median of the per-round ratios (both ran in the same
# round, in turns) and the ratio of the medians.
summary() {
    echo
    echo '| project | mode | binary | runs | wall median (min–max) | peak RSS median | tarballs | duplicate downloads |'
    echo '|---|---|---|---|---|---|---|---|'
    awk -F'\t' '
        function median(list,    n, v, i, j, t) {
            n = split(list, v, " ")
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
            return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
        }
        function minmax(list,    n, v, i, lo, hi) {
            n = split(list, v, " "); lo = v[1]; hi = v[1]
            for (i = 2; i <= n; i++) { if (v[i] + 0 < lo + 0) lo = v[i]; if (v[i] + 0 > hi + 0) hi = v[i] }
            return sprintf("%.2f–%.2f", lo, hi)
        }
        {
            key = $1 SUBSEP $2 SUBSEP $3
            if (!(key in wall)) { order[++rows] = key }
            wall[key] = wall[key] " " $5; rss[key] = rss[key] " " $6; runs[key]++
            tarballs[key] = $7; dup[key] += $9
            round[$1 SUBSEP $2 SUBSEP $4 SUBSEP $3] = $5
            if (!(($1 SUBSEP $2) in pm)) { pmorder[++pms] = $1 SUBSEP $2 }
            pm[$1 SUBSEP $2] = 1
            if ($4 + 0 > maxround[$1 SUBSEP $2]) maxround[$1 SUBSEP $2] = $4 + 0
        }
        END {
            for (r = 1; r <= rows; r++) {
                split(order[r], k, SUBSEP)
                printf "| %s | %s | %s | %d | %.2f s (%s) | %.0f MiB | %s | %s |\n", k[1], k[2], k[3], runs[order[r]],
                    median(wall[order[r]]), minmax(wall[order[r]]), median(rss[order[r]]) / 1024, tarballs[order[r]], dup[order[r]]
            }
            for (p = 1; p <= pms; p++) {
                split(pmorder[p], k, SUBSEP); b = k[1] SUBSEP k[2] SUBSEP "baseline"; q = k[1] SUBSEP k[2] SUBSEP "patched"
                if (!(b in wall) || !(q in wall)) continue
                pairs = ""
                for (i = 1; i <= maxround[pmorder[p]]; i++) {
                    bb = round[k[1] SUBSEP k[2] SUBSEP i SUBSEP "baseline"]; pp = round[k[1] SUBSEP k[2] SUBSEP i SUBSEP "patched"]
                    if (bb != "" && pp != "") pairs = pairs " " (pp / bb)
                }
                printf "| %s | %s | patched ÷ baseline | | wall: %.3f× per round (median), %.3f× of medians | RSS %.3f× | | |\n",
                    k[1], k[2], median(pairs), median(wall[q]) / median(wall[b]), median(rss[q]) / median(rss[b])
            }
        }' "$1"
}

if [[ ${1:-} == --summarize ]]; then
    summary "${2:?--summarize needs a TSV file}"
    exit 0
fi
[[ $# -ge 1 ]] || usage
project=$(cd "$1" && pwd) || usage
shift
baseline="" patched="" released="" rounds=5 modes="fresh,frozen" out=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --baseline) baseline=${2:?}; shift 2 ;;
        --patched) patched=${2:?}; shift 2 ;;
        --released) released=${2:?}; shift 2 ;;
        --rounds) rounds=${2:?}; shift 2 ;;
        --modes) modes=${2:?}; shift 2 ;;
        --out) out=${2:?}; shift 2 ;;
        *) echo "unknown argument: $1" >&2; usage ;;
    esac
done
[[ -n $baseline && -n $patched ]] || { echo "--baseline and --patched are needed" >&2; exit 2; }
[[ -f $project/package.json ]] || { echo "$project has no package.json" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "GNU time (/usr/bin/time) is needed" >&2; exit 2; }
if [[ $modes == *frozen* && ! -f $project/pnpm-lock.yaml ]]; then
    echo "$project has no pnpm-lock.yaml for the frozen mode" >&2
    exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/pacquet-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
name=$(basename "$project")

# run LABEL BIN MODE: one cold install; prints "wall_s rss_kib tarballs max_downloads duplicates".
run() {
    local label=$1 bin=$2 mode=$3 dir="$work/run"
    rm -rf "$dir"
    mkdir -p "$dir/project" "$dir/cache" "$dir/store"
    cp "$project/package.json" "$dir/project/"
    [[ -f $project/pnpm-workspace.yaml ]] && cp "$project/pnpm-workspace.yaml" "$dir/project/"
    [[ -f $project/.npmrc ]] && cp "$project/.npmrc" "$dir/project/"
    local args=(install --ignore-scripts --store-dir "$dir/store")
    if [[ $mode == frozen ]]; then
        cp "$project/pnpm-lock.yaml" "$dir/project/"
        args+=(--frozen-lockfile)
    fi
    sync
    # The trace goes to stdout, one JSON object a line.
    if ! (cd "$dir/project" && XDG_CACHE_HOME="$dir/cache" TRACE=pacquet::download=info \
        TRACE_FORMAT=json /usr/bin/time -f '%e %M' -o "$dir/time" timeout 600 "$bin" "${args[@]}" \
        >"$dir/out" 2>"$dir/err"); then
        echo "$label $mode failed on $name:" >&2
        grep -v '^{' "$dir/out" | tail -n 20 >&2
        tail -n 20 "$dir/err" >&2
        exit 1
    fi
    local downloads
    downloads=$(grep '"message":"Download completed"' "$dir/out" |
        grep -o '"package_url":"[^"\\]*\(\\.[^"\\]*\)*"' | sort | uniq -c |
        awk '{ n++; if ($1 > max) max = $1; if ($1 > 1) dup += $1 - 1 } END { printf "%d %d %d", n, max, dup }')
    echo "$(tail -n 1 "$dir/time") $downloads"
}

tsv=${out:-$work/runs.tsv}
for mode in ${modes//,/ }; do
    for ((round = 1; round <= rounds; round++)); do
        # Alternate which binary goes first, so neither always meets a warmer network.
        order=(baseline patched)
        ((round % 2 == 0)) && order=(patched baseline)
        for label in "${order[@]}"; do
            bin=$baseline
            [[ $label == patched ]] && bin=$patched
            result=$(run "$label" "$bin" "$mode") || exit 1
            read -r wall rss n max dup <<<"$result"
            printf '%s\t%s\t%s\tround %d\t%6.2f s\t%7d KiB\t%d tarballs\tmax %d downloads\t%d duplicates\n' \
                "$name" "$mode" "$label" "$round" "$wall" "$rss" "$n" "$max" "$dup" >&2
            printf '%s\t%s\t%s\t%d\t%s\t%s\t%d\t%d\t%d\n' \
                "$name" "$mode" "$label" "$round" "$wall" "$rss" "$n" "$max" "$dup" >>"$tsv"
        done
    done
    if [[ -n $released ]]; then
        result=$(run released "$released" "$mode") || exit 1
        read -r wall rss n max dup <<<"$result"
        printf '%s\t%s\t%s\t%d\t%s\t%s\t%d\t%d\t%d\n' \
            "$name" "$mode" released 1 "$wall" "$rss" "$n" "$max" "$dup" >>"$tsv"
    fi
done
summary <(grep -F "$name"$'\t' "$tsv")
