#!/usr/bin/env bash
# Times `lockfetch fetch` (default settings) against `curl --parallel --parallel-max 64` over
# HTTP/2 and over HTTP/1.1 on the same tarball URLs of a real registry, for every lockfile of the
# corpus, and prints one table: medians of wall time and of CPU time (user + sys). Not part of
# CI: it needs the network.
#
# Each round runs every lockfile, and for each the three modes in a rotating order. Every run
# starts from the same state: the previous run's files are deleted, `sync` writes that out, and
# the run writes into a new, empty directory.
#
# usage: benches/real_fetch.sh [LOCKFILE|PROJECT-DIR...] [--registry URL] [--rounds N] [-- LOCKFETCH-FETCH-ARGS...]
#   LOCKFILE    default: every directory of benches/lockfiles/
#   --registry  default: `npm config get registry`
#   --rounds    default: 5
#   after --    extra arguments for `lockfetch fetch` (e.g. --concurrency 32); none by default
# env: LOCKFETCH=path/to/lockfetch (default: target/release/lockfetch, built if missing),
#      TMPDIR for the output directories (the file system under test).
set -euo pipefail

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
lockfiles=()
registry=""
rounds=5
extra=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --registry) registry=${2:?--registry needs a URL}; shift 2 ;;
        --rounds) rounds=${2:?--rounds needs a number}; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        -h | --help) usage ;;
        -*) echo "unknown argument: $1" >&2; usage ;;
        *) lockfiles+=("$1"); shift ;;
    esac
done
if [[ ${#lockfiles[@]} -eq 0 ]]; then
    for d in "$(dirname "$0")"/lockfiles/*/; do lockfiles+=("$d"); done
fi
source "$(dirname "$0")/network_common.sh"
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 2; }
curl --version | grep -q HTTP2 || { echo "this curl has no HTTP/2" >&2; exit 2; }

exec python3 "$root/benches/real_fetch.py" --bin "$bin" --registry "$registry" \
    --work "$work" --rounds "$rounds" "${lockfiles[@]}" -- "${extra[@]}"
