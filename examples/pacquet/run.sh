#!/usr/bin/env bash
# pacquet (the `pnpm` 12 binary) on fetch-scheduler: prepares pacquet's workspace twice from a
# pnpm/pnpm git directory, applies fetch-scheduler.patch to one copy, builds the baseline and the
# patched `pnpm` side by side, runs pacquet's own tests on the patched tree, and benchmarks real
# installs with bench.sh. Not part of CI: it needs pnpm/pnpm's source and the network.
#
# usage: run.sh --pnpm-git GIT_DIR [--work DIR] [--rounds N] [--released BIN]
#               [--baseline-tests] [--skip-build] [--skip-tests] [--skip-bench] [PROJECT_DIR...]
#   --pnpm-git        the git directory of a pnpm/pnpm clone or mirror (commit 36e5ae6ac8)
#   --work            where the trees (base/, patched/), the logs and, unless CARGO_TARGET_DIR is
#                     set, the target directory go (default: /tmp/pacquet-fs)
#   --rounds          bench.sh rounds per project and mode (default 5)
#   --released        a released pnpm 12 binary to run once per project and mode beside the two builds
#   --baseline-tests  also run the same tests on the unpatched tree, to compare test by test
#   PROJECT_DIR...    projects to benchmark (package.json + pnpm-lock.yaml); none: no benchmark
#
# Both binaries are built with the same lighter release settings (thin LTO, 16 codegen units; the
# workspace's own profile is fat LTO with one codegen unit, several minutes of linking on 2 cores),
# into one target directory so their dependencies are built once.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

git_dir="" work=/tmp/pacquet-fs rounds=5 released="" baseline_tests=0
skip_build=0 skip_tests=0 skip_bench=0 projects=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --pnpm-git) git_dir=${2:?}; shift 2 ;;
        --work) work=${2:?}; shift 2 ;;
        --rounds) rounds=${2:?}; shift 2 ;;
        --released) released=${2:?}; shift 2 ;;
        --baseline-tests) baseline_tests=1; shift ;;
        --skip-build) skip_build=1; shift ;;
        --skip-tests) skip_tests=1; shift ;;
        --skip-bench) skip_bench=1; shift ;;
        -h | --help) usage ;;
        -*) echo "unknown argument: $1" >&2; usage ;;
        *) projects+=("$(cd "$1" && pwd)"); shift ;;
    esac
done
[[ -n $git_dir || $skip_build == 1 ]] || { echo "--pnpm-git is needed" >&2; usage; }

mkdir -p "$work/logs" "$work/bin"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$work/target}"
export CARGO_PROFILE_RELEASE_LTO=thin CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
step() { printf '\n=== %s ===\n' "$*"; }

# The patched tree depends on this repository by path: `../fetch-scheduler` from the tree.
ln -sfn "$repo" "$work/fetch-scheduler"

if [[ $skip_build == 0 ]]; then
    step "prepare the baseline and the patched tree"
    rm -rf "$work/base" "$work/patched"
    "$here/prepare/prepare.sh" "$git_dir" "$work/base"
    "$here/prepare/prepare.sh" "$git_dir" "$work/patched"
    patch -d "$work/patched" -p1 --no-backup-if-mismatch <"$here/fetch-scheduler.patch"

    step "build the baseline pnpm"
    (cd "$work/base" && cargo build --release --locked -p pnpm-cli --bin pnpm)
    cp "$CARGO_TARGET_DIR/release/pnpm" "$work/bin/pnpm-baseline"
    step "build the patched pnpm"
    # Not --locked: Cargo.lock gains fetch-scheduler and its dependencies; every existing pin stays.
    (cd "$work/patched" && cargo build --release -p pnpm-cli --bin pnpm)
    cp "$CARGO_TARGET_DIR/release/pnpm" "$work/bin/pnpm-patched"
    "$work/bin/pnpm-baseline" --version
fi

# tests TREE: pacquet's tests of the crates the patch touches, one log per crate.
tests() {
    local tree=$1 status=0
    for crate in pnpm-tarball pnpm-network pnpm-deps-restorer; do
        (cd "$work/$tree" && PNPM_CONFIG_CI=false cargo test -p "$crate" --no-fail-fast) \
            >"$work/logs/$tree-$crate.log" 2>&1 || status=1
    done
    # The prefetching resolver's and the pnpr prefetcher's tests.
    (cd "$work/$tree" && PNPM_CONFIG_CI=false cargo test -p pnpm-package-manager --lib --no-fail-fast \
        -- prefetching_resolver tarball_prefetch) >"$work/logs/$tree-pnpm-package-manager.log" 2>&1 || status=1
    for log in "$work/logs/$tree"-*.log; do
        printf '%s:\n' "$(basename "$log" .log)"
        grep -E '^test result:' "$log" | sed 's/^/    /' || echo "    (no test result: see $log)"
        grep -E '^    [a-z_:0-9]+$' "$log" | sed 's/^/    FAILED /' || true
    done
    return $status
}

if [[ $skip_tests == 0 ]]; then
    step "pacquet's tests on the patched tree"
    tests patched || echo "some tests failed on the patched tree (logs in $work/logs)"
    if [[ $baseline_tests == 1 ]]; then
        step "the same tests on the baseline tree"
        tests base || echo "some tests failed on the baseline tree (logs in $work/logs)"
    fi
fi

if [[ $skip_bench == 0 && ${#projects[@]} -gt 0 ]]; then
    step "installs: baseline vs patched"
    for project in "${projects[@]}"; do
        args=("$project" --baseline "$work/bin/pnpm-baseline" --patched "$work/bin/pnpm-patched"
            --rounds "$rounds" --out "$work/logs/bench.tsv")
        [[ -n $released ]] && args+=(--released "$released")
        "$here/bench.sh" "${args[@]}"
    done
fi
