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
#
# Every run starts cold: a fresh copy of the project, a fresh store (--store-dir) and a fresh metadata
# cache (XDG_CACHE_HOME). Per run: wall time and peak RSS (GNU time), and downloads per tarball,
# counted from the binary's own "Download completed" trace lines (TRACE=pacquet::download=info,
# TRACE_FORMAT=json), so a tarball fetched twice shows as a duplicate whichever binary does it.
# Scripts are not run (--ignore-scripts): a build script's time is not the scheduler's. An install
# that takes over 10 minutes is stopped and fails the benchmark.
set -euo pipefail

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
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

declare -A walls rsss dups tarballs
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
            [[ -n $out ]] && printf '%s\t%s\t%s\t%d\t%s\t%s\t%d\t%d\t%d\n' \
                "$name" "$mode" "$label" "$round" "$wall" "$rss" "$n" "$max" "$dup" >>"$out"
            walls[$mode,$label]+="$wall "
            rsss[$mode,$label]+="$rss "
            dups[$mode,$label]=$(( ${dups[$mode,$label]:-0} + dup ))
            tarballs[$mode,$label]=$n
        done
    done
    if [[ -n $released ]]; then
        result=$(run released "$released" "$mode") || exit 1
        read -r wall rss n max dup <<<"$result"
        walls[$mode,released]="$wall"
        rsss[$mode,released]="$rss"
        dups[$mode,released]=$dup
        tarballs[$mode,released]=$n
        [[ -n $out ]] && printf '%s\t%s\t%s\t%d\t%s\t%s\t%d\t%d\t%d\n' \
            "$name" "$mode" released 1 "$wall" "$rss" "$n" "$max" "$dup" >>"$out"
    fi
done

# stats "v1 v2 ...": median min max
stats() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%s %s %s", m, v[1], v[NR] }'; }

echo
printf '| project | mode | binary | wall median (min–max) | peak RSS median | tarballs | duplicate downloads |\n'
printf '|---|---|---|---|---|---|---|\n'
for mode in ${modes//,/ }; do
    for label in baseline patched released; do
        [[ -n ${walls[$mode,$label]:-} ]] || continue
        read -r wm wmin wmax < <(stats "${walls[$mode,$label]}")
        read -r rm _ _ < <(stats "${rsss[$mode,$label]}")
        printf '| %s | %s | %s | %.2f s (%.2f–%.2f) | %.0f MiB | %s | %s |\n' "$name" "$mode" "$label" \
            "$wm" "$wmin" "$wmax" "$(awk -v k="$rm" 'BEGIN { print k / 1024 }')" \
            "${tarballs[$mode,$label]}" "${dups[$mode,$label]}"
    done
    read -r bm _ _ < <(stats "${walls[$mode,baseline]}")
    read -r pm _ _ < <(stats "${walls[$mode,patched]}")
    read -r brss _ _ < <(stats "${rsss[$mode,baseline]}")
    read -r prss _ _ < <(stats "${rsss[$mode,patched]}")
    awk -v n="$name" -v m="$mode" -v b="$bm" -v p="$pm" -v br="$brss" -v pr="$prss" \
        'BEGIN { printf "| %s | %s | patched ÷ baseline | wall %.3f× | RSS %.3f× | | |\n", n, m, p / b, pr / br }'
done
