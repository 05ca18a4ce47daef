"""The timing loop of real_fetch.sh (see there): runs lockfetch and curl in turns, checks every
run fetched everything, and prints the table of medians."""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

MODES = ("lockfetch", "curl-h2", "curl-h1")


def parse():
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--registry", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("lockfiles", nargs="+")
    args = p.parse_args(argv[:cut])
    args.extra = argv[cut + 1:]
    return args


def name_of(lockfile):
    parent = os.path.dirname(os.path.abspath(lockfile))
    return os.path.basename(parent)


def prepare(args, i, lockfile):
    """The lockfile's URLs (as lockfetch plans them for this platform) and curl's config."""
    urls = subprocess.run(
        [args.bin, "fetch", "--lockfile", lockfile, "--registry", args.registry, "--list-urls"],
        check=True, capture_output=True, text=True,
    ).stdout.split()
    if not urls:
        sys.exit(f"{lockfile} lists no package to fetch")
    cfg = os.path.join(args.work, f"curl-{i}.cfg")
    out = os.path.join(args.work, "out")
    with open(cfg, "w") as f:
        for n, url in enumerate(urls):
            f.write(f'url = "{url}"\noutput = "{out}/{n}.tgz"\n')
    return urls, cfg


def run(args, mode, lockfile, count, cfg):
    """One run into a new directory after deleting the last one's and `sync`: (wall s, CPU s,
    bytes)."""
    out = os.path.join(args.work, "out")
    shutil.rmtree(out, ignore_errors=True)
    os.sync()
    os.mkdir(out)
    if mode == "lockfetch":
        cmd = [args.bin, "fetch", "--lockfile", lockfile, "--registry", args.registry,
               "--cache-dir", out, "--json", *args.extra]
    else:
        http = "--http2" if mode == "curl-h2" else "--http1.1"
        cmd = ["curl", "--parallel", "--parallel-max", "64", http, "--fail", "--silent",
               "--show-error", "--no-progress-meter", "--config", cfg]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        sys.exit(f"{mode} on {lockfile} failed ({done.returncode}): {done.stderr[-2000:]}")
    size = 0
    if mode == "lockfetch":
        r = json.loads(done.stdout)
        bad = []
        if r["failed"]:
            bad.append(f"{len(r['failed'])} failed")
        if r["duplicate_fetches"]:
            bad.append(f"{r['duplicate_fetches']} duplicate fetches")
        if r["fetched"] < count:
            bad.append(f"fetched {r['fetched']} of {count}")
        if r["integrity_verified"] != r["fetched"]:
            bad.append("not every download verified")
        if bad:
            sys.exit(f"lockfetch on {lockfile}: " + ", ".join(bad))
        size = r["bytes"]
    else:
        got = len(os.listdir(out))
        if got != count:
            sys.exit(f"{mode} wrote {got} of {count} files for {lockfile}")
    return wall, cpu, size


def main():
    args = parse()
    plans = [(lf, *prepare(args, i, lf)) for i, lf in enumerate(args.lockfiles)]
    times = {lf: {m: [] for m in MODES} for lf, _, _ in plans}
    cpus = {lf: {m: [] for m in MODES} for lf, _, _ in plans}
    sizes = {}
    for r in range(args.rounds):
        for j, (lf, urls, cfg) in enumerate(plans):
            for k in range(len(MODES)):
                mode = MODES[(k + r + j) % len(MODES)]
                wall, cpu, size = run(args, mode, lf, len(urls), cfg)
                times[lf][mode].append(wall)
                cpus[lf][mode].append(cpu)
                if size:
                    sizes[lf] = size
                print(f"round {r + 1}: {name_of(lf)} {mode} {wall:.2f} s, CPU {cpu:.2f} s",
                      file=sys.stderr)
    shutil.rmtree(os.path.join(args.work, "out"), ignore_errors=True)

    label = " ".join(args.extra) if args.extra else "defaults"
    print(f"lockfetch ({label}) against curl --parallel-max 64; medians of {args.rounds} "
          "rounds, wall (and CPU, user + sys) in seconds")
    print("| lockfile | tarballs | MB | lockfetch | curl h2 | curl h1.1 | ÷ faster curl "
          "| CPU ÷ its curl |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for lf, urls, _ in plans:
        med = {m: statistics.median(times[lf][m]) for m in MODES}
        cpu = {m: statistics.median(cpus[lf][m]) for m in MODES}
        best = min(("curl-h2", "curl-h1"), key=lambda m: med[m])
        cells = " | ".join(f"{med[m]:.2f} ({cpu[m]:.2f})" for m in MODES)
        print(f"| {name_of(lf)} | {len(urls)} | {sizes.get(lf, 0) / 1e6:.0f} | {cells} "
              f"| **{med['lockfetch'] / med[best]:.2f}×** "
              f"| {cpu['lockfetch'] / cpu[best]:.2f}× |")
    print("\nEvery run, wall seconds:")
    for lf, _, _ in plans:
        for m in MODES:
            print(f"  {name_of(lf)} {m}: " + " ".join(f"{t:.2f}" for t in times[lf][m]))


if __name__ == "__main__":
    main()
