# Sourced by the network benchmarks (real_fetch.sh, concurrency_sweep.sh) after they parse their
# arguments into `lockfiles` (an array) and `registry`: checks both, and finds the lockfetch binary.
#
# Sets: lockfiles (each project directory becomes its pnpm-lock.yaml), registry (npm's when
# empty), root (the repository), bin (lockfetch: $LOCKFETCH, else target/release/lockfetch, built
# if missing), work (a temp directory removed on exit).

for i in "${!lockfiles[@]}"; do
    f=${lockfiles[$i]}
    [[ -d $f ]] && f=${f%/}/pnpm-lock.yaml
    [[ -f $f ]] || { echo "no such lockfile: $f" >&2; exit 2; }
    lockfiles[$i]=$f
done
if [[ -z $registry ]]; then
    registry=$(npm config get registry 2>/dev/null || true)
    [[ -n $registry && $registry != undefined ]] ||
        { echo "no registry: pass --registry URL or set npm's registry" >&2; exit 2; }
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${LOCKFETCH:-$root/target/release/lockfetch}
if [[ ! -x $bin ]]; then
    (cd "$root" && cargo build --release --bin lockfetch)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
