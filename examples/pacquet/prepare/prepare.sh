#!/usr/bin/env bash
# Lays out pacquet's Rust workspace (pnpm/pnpm at commit 36e5ae6ac8, 2026-08-22: the code that ships as
# pnpm 12) in DEST, ready to build with this machine's rustc 1.95:
#   - only the Rust workspace and the few files its tests read (about 20 MB);
#   - rust-toolchain.toml removed (it pins 1.97, which cannot be installed here);
#   - three Cargo.lock pins (yamlpath 1.27.0, yamlpatch 1.26.1, tree-sitter-iter 1.27.0), the newest that
#     build on 1.95, and the one-line source change pnpm-cli needs for yamlpath 1.27.
# Usage: prepare.sh GIT_DIR DEST
#   GIT_DIR: the git directory of a pnpm/pnpm clone or mirror that has that commit;
#   DEST: a directory that does not exist yet.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 2 ] || { echo "usage: prepare.sh GIT_DIR DEST" >&2; exit 2; }
git_dir=$1 dest=$2 rev=36e5ae6ac8d03743442f083680fa3015e4a774b3
git --git-dir="$git_dir" cat-file -e "$rev^{commit}" 2>/dev/null || { echo "commit $rev is not in $git_dir" >&2; exit 1; }
[ ! -e "$dest" ] || { echo "$dest exists" >&2; exit 1; }
mkdir -p "$dest"
git --git-dir="$git_dir" archive "$rev" -- \
  Cargo.toml Cargo.lock rustfmt.toml .cargo .config LICENSE justfile deny.toml \
  pnpm/crates pnpm/tasks pnpm/LICENSE pnpm/README.md pnpm/CONTRIBUTING.md pnpm/CODE_STYLE_GUIDE.md \
  pnpr/crates pnpr/.fixtures pnpr/LICENSE.md fixtures/gvs-link-hash-parity.json \
  pnpm11/config/reader/src/index.ts pnpm11/exec/esm-node-path-loader/test/import-flag.txt \
  pnpm11/installing/deps-installer/test/fixtures/patch-pkg/is-positive@1.0.0.patch \
  .github/workflows/pacquet-ci.yml .github/workflows/pacquet-integrated-benchmark.yml \
  | tar -x -C "$dest"
patch -s -d "$dest" -p1 < "$here/toolchain-1.95-pins.lock.diff"
patch -s -d "$dest" -p1 < "$here/toolchain-1.95-cli.diff"
echo "pacquet $rev laid out in $dest (rustc $(rustc --version | cut -d' ' -f2))"
