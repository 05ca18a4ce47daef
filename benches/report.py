#!/usr/bin/env python3
"""Markdown tables of the fetch-scheduler benchmarks, for BENCHMARKS.md.

Reads what `cargo bench -p fetch-scheduler-benches` wrote into the target directory:
  criterion/<group>/<function>/new/estimates.json   (criterion's median, in ns)
  interleaved-hit.json, interleaved-join.json       (interleaved cross-check, ns per op)
  interleaved-throughput_{tokio,smol}.json          (interleaved cross-check, ms per batch)
  interleaved-promotion_{tokio,smol}.json           (interleaved cross-check, p50 round trip in µs)
  realistic-throughput_realistic_{tokio,smol}.json  (wall per batch and CPU per job, taking turns)
  promotion-latency.json                            (p50/p99 of every promotion round trip)
  memory.json                                       (bytes per done key)
  install-sim.json                                  (the install simulation, demo JSON format)
  install-sim-{resolve16,packages200,bandwidth50}.json  (its variants)
and prints one markdown table per group, with ratios against the floor and the peers, and
whether each target is met. Missing inputs are skipped with a note.

usage: python3 benches/report.py [--target DIR]
       (default: $CARGO_TARGET_DIR, else target/ at the workspace root)
"""

import argparse
import json
import os
import sys

OURS = "fetch_scheduler"


def default_target():
    env = os.environ.get("CARGO_TARGET_DIR")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if env:
        return env if os.path.isabs(env) else os.path.join(root, env)
    return os.path.join(root, "target")


def median_ns(target, group, function):
    path = os.path.join(target, "criterion", group, function, "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"]
    except (OSError, KeyError, ValueError):
        return None


def load_json(target, name):
    try:
        with open(os.path.join(target, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def fmt_time(ns):
    if ns is None:
        return "—"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.1f} ns"


def fmt_ratio(x):
    return "—" if x is None else f"{x:.2f}×"


def verdict(ok):
    if isinstance(ok, str):
        return ok
    return "met" if ok else "**missed**"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def lookup_group(target, group, functions):
    return {f: median_ns(target, group, f) for f in functions}


def hit_or_join(target, group, peers, floor=None):
    functions = [OURS] + ([floor] if floor else []) + peers
    m = lookup_group(target, group, functions)
    if m[OURS] is None:
        return f"_{group}: no criterion data_", []
    rows, checks = [], []
    for f in functions:
        t = m[f]
        vs_floor = t / m[floor] if floor and t is not None and m[floor] else None
        ours_vs = m[OURS] / t if t is not None and f != OURS else None
        rows.append([f"`{f}`", fmt_time(t), fmt_ratio(vs_floor) if floor else None, fmt_ratio(ours_vs)])
    if floor and m[floor]:
        r = m[OURS] / m[floor]
        checks.append((f"{group}: ours ≤ 1.5× {floor}", f"{r:.2f}×", r <= 1.5))
    for p in peers:
        if m[p]:
            r = m[OURS] / m[p]
            checks.append((f"{group}: ours ≤ {p}", f"{r:.2f}×", r <= 1.0))
    header = ["function", "median"] + ([f"÷ {floor}"] if floor else []) + ["ours ÷ this"]
    if not floor:
        rows = [[r[0], r[1], r[3]] for r in rows]
    return f"### `{group}`\n\n" + table(header, rows), checks


def interleaved(target, group, floor=None):
    data = load_json(target, f"interleaved-{group}.json")
    if not data or OURS not in data:
        return f"_{group}: no interleaved cross-check_", []
    rows, checks = [], []
    order = [OURS] + ([floor] if floor in data else []) + sorted(n for n in data if n not in (OURS, floor))
    for name in order:
        ns = data[name]
        rows.append([f"`{name}`", f"{ns:.1f} ns", fmt_ratio(ns / data[floor]) if floor in data else "—",
                     fmt_ratio(data[OURS] / ns) if name != OURS else "—"])
        if name == floor:
            r = data[OURS] / ns
            checks.append((f"{group} (interleaved): ours ≤ 1.5× {floor}", f"{r:.2f}×", r <= 1.5))
        elif name != OURS:
            r = data[OURS] / ns
            checks.append((f"{group} (interleaved): ours ≤ {name}", f"{r:.2f}×", r <= 1.0))
    head = f"`{group}`, interleaved cross-check (median of rounds that time every variant in turn):\n\n"
    return head + table(["function", "per op", f"÷ {floor}" if floor else "÷ floor", "ours ÷ this"], rows), checks


def promotion(target, group, latency):
    functions = ["free_slot", "saturated", "bare_wake"]
    m = lookup_group(target, group, functions)
    if all(v is None for v in m.values()):
        return f"_{group}: no criterion data_", []
    pct = (latency or {}).get(group, {})
    rows, checks = [], []
    for f in functions:
        p = pct.get(f, {})
        ratio = m[f] / m["bare_wake"] if m[f] and m["bare_wake"] else None
        p50r = p.get("p50_ns") / pct["bare_wake"]["p50_ns"] if p and "bare_wake" in pct else None
        p99r = p.get("p99_ns") / pct["bare_wake"]["p99_ns"] if p and "bare_wake" in pct else None
        rows.append([f"`{f}`", fmt_time(m[f]), fmt_ratio(ratio), fmt_time(p.get("p50_ns")),
                     fmt_ratio(p50r), fmt_time(p.get("p99_ns")), fmt_ratio(p99r)])
        if f != "bare_wake" and ratio is not None:
            checks.append((f"{group}: {f} ≤ 2× bare_wake (median)", f"{ratio:.2f}×", ratio <= 2.0))
    header = ["function", "median", "÷ bare_wake", "p50", "p50 ÷ floor", "p99", "p99 ÷ floor"]
    return f"### `{group}`\n\n" + table(header, rows), checks


def promotion_interleaved(target, group):
    data = load_json(target, f"interleaved-{group}.json")
    if not data or "bare_wake" not in data:
        return f"_{group}: no interleaved cross-check_", []
    rows, checks = [], []
    for f in ["free_slot", "saturated", "bare_wake"]:
        if f not in data:
            continue
        r = data[f] / data["bare_wake"]
        rows.append([f"`{f}`", f"{data[f]:.1f} µs", fmt_ratio(r)])
        if f != "bare_wake":
            checks.append((f"{group} (interleaved): {f} ≤ 2× bare_wake (p50)", f"{r:.2f}×", r <= 2.0))
    head = (f"`{group}`, interleaved cross-check (p50 of rounds that time one round trip of every "
            "scenario in turn):\n\n")
    return head + table(["function", "p50", "÷ bare_wake"], rows), checks


def throughput(target, group, jobs=10_000):
    # semaphore_spawn_kept is a reference (the peer keeping its values as ours does), not a target.
    m = lookup_group(target, group, [OURS, "semaphore_spawn", "semaphore_spawn_kept"])
    if m[OURS] is None:
        return f"_{group}: no criterion data_", []
    rows = []
    for f, t in m.items():
        rate = jobs / (t / 1e9) if t else None
        ratio = t / m[OURS] if t else None
        rows.append([f"`{f}`", fmt_time(t), "—" if rate is None else f"{rate / 1e6:.2f} M jobs/s",
                     fmt_ratio(ratio)])
    checks = []
    if m["semaphore_spawn"]:
        r = m[OURS] / m["semaphore_spawn"]
        checks.append((f"{group}: ours ≤ 2× semaphore_spawn's time (tripwire)", f"{r:.2f}×", r <= 2.0))
    header = ["function", "median", "rate", "its time ÷ ours (≥ 1: ours is faster)"]
    return f"### `{group}` ({jobs} no-op jobs)\n\n" + table(header, rows), checks


def throughput_interleaved(target, group):
    data = load_json(target, f"interleaved-{group}.json")
    if not data or OURS not in data:
        return f"_{group}: no interleaved cross-check_", []
    rows = []
    for name in [OURS] + sorted(n for n in data if n != OURS):
        ms = data[name]
        rows.append([f"`{name}`", f"{ms:.2f} ms", fmt_ratio(ms / data[OURS])])
    checks = []
    if "semaphore_spawn" in data:
        r = data[OURS] / data["semaphore_spawn"]
        checks.append((f"{group} (interleaved): ours ≤ 2× semaphore_spawn's time (tripwire)",
                       f"{r:.2f}×", r <= 2.0))
    head = (f"`{group}`, interleaved cross-check (median of rounds that run one batch of every "
            "variant in turn):\n\n")
    return head + table(["function", "per batch", "its time ÷ ours (≥ 1: ours is faster)"], rows), checks


def realistic(target, group):
    """A realistic throughput group: criterion's wall medians, and the CPU per job of the batches
    that took turns (realistic-<group>.json)."""
    # fetch_scheduler_get_all is a reference (completion order wakes the consumer per answer).
    m = lookup_group(target, group, [OURS, "semaphore_spawn", "fetch_scheduler_get_all"])
    cpu = load_json(target, f"realistic-{group}.json") or {}
    if m[OURS] is None:
        return f"_{group}: no criterion data_", []
    rows = []
    for f, t in m.items():
        c = cpu.get(f, {})
        rows.append([f"`{f}`", fmt_time(t), fmt_ratio(t / m["semaphore_spawn"]) if t and m["semaphore_spawn"] else "—",
                     f"{c['wall_ms_per_batch']:.1f} ms" if c else "—",
                     f"{c['cpu_us_per_job']:.2f} µs" if c else "—"])
    checks = []
    if m["semaphore_spawn"]:
        r = m[OURS] / m["semaphore_spawn"]
        checks.append((f"{group}: wall ≤ 1.02× semaphore_spawn", f"{r:.3f}×", r <= 1.02))
    if OURS in cpu and "semaphore_spawn" in cpu:
        w = cpu[OURS]["wall_ms_per_batch"] / cpu["semaphore_spawn"]["wall_ms_per_batch"]
        checks.append((f"{group} (taking turns): wall ≤ 1.02× semaphore_spawn", f"{w:.3f}×", w <= 1.02))
        r = cpu[OURS]["cpu_us_per_job"] / cpu["semaphore_spawn"]["cpu_us_per_job"]
        checks.append((f"{group}: CPU per job ≤ 1.5× semaphore_spawn", f"{r:.2f}×", r <= 1.5))
    header = ["function", "median wall", "÷ semaphore_spawn", "wall, taking turns", "CPU per job"]
    return f"### `{group}` (10000 jobs, log-normal 2 ms, 64 slots)\n\n" + table(header, rows), checks


def memory(data):
    if not data:
        return "_memory: no target/memory.json_", []
    by_keys = {}
    for r in data["results"]:
        by_keys.setdefault(r["keys"], []).append(r)
    parts, checks = [], []
    for n, results in sorted(by_keys.items()):
        floor = next((r for r in results if r["name"] == "std_hashmap"), None)
        rows = []
        for r in results:
            rows.append([f"`{r['name']}`", f"{r['bytes_per_key']:.1f}",
                         fmt_ratio(r["bytes_per_key"] / floor["bytes_per_key"]) if floor else "—",
                         f"{r['blocks_per_key']:.2f}"])
        parts.append(f"{n} done keys (payload {results[0]['payload_bytes_per_key']} B/key):\n\n"
                     + table(["variant", "bytes/key", "÷ std_hashmap", "heap blocks/key"], rows))
        ours = next((r for r in results if r["name"] == OURS), None)
        for r in results:
            if ours and r["name"] not in (OURS, "std_hashmap", "fetch_scheduler_sequential"):
                ratio = ours["bytes_per_key"] / r["bytes_per_key"]
                checks.append((f"memory ({n} keys): ours ≤ {r['name']}", f"{ratio:.2f}×", ratio <= 1.0))
    return "### memory (bytes per done key)\n\n" + "\n\n".join(parts), checks


def install_sim(data, title, label, defaults):
    """One run of the install simulation (demo JSON: each strategy carries its run's `bound_ms`;
    after several rounds, its median run and `wall_ms_rounds`, every run's wall time).
    At the defaults the scheduler must be 0.95x the best other strategy's wall and 1.10x its bound;
    in a variant, never more than 1 % behind the best other."""
    if not data:
        return f"_install_sim: no data for {title}_", []
    rounds = any(s.get("wall_ms_rounds") for s in data["strategies"])
    rows = []
    for s in data["strategies"]:
        b = s.get("bound_ms")
        row = [f"`{s['name']}`", f"{s['wall_ms']:.0f}", f"{b:.0f}" if b else "—",
               f"{s['wall_ms'] / b:.3f}×" if b else "—", s["requests"], s["duplicate_requests"],
               f"{s['bytes'] / 1e6:.1f}", f"{s['demand_wait_ms']:.0f}"]
        if rounds:
            row.append(" ".join(f"{w:.0f}" for w in s.get("wall_ms_rounds", [])) or "—")
        rows.append(row)
    checks = []
    ours = next((s for s in data["strategies"] if s["name"] == "scheduler"), None)
    if ours:
        checks.append((f"install_sim{label}: scheduler has 0 duplicate requests",
                       str(ours["duplicate_requests"]), ours["duplicate_requests"] == 0))
        others = [s for s in data["strategies"] if s["name"] != "scheduler"]
        best = min((s["wall_ms"] for s in others), default=ours["wall_ms"])
        r = ours["wall_ms"] / best
        if defaults:
            checks.append((f"install_sim{label}: scheduler ≤ 0.95× the best other",
                           f"{r:.3f}×", r <= 0.95))
            b = ours.get("bound_ms")
            if b:
                checks.append((f"install_sim{label}: scheduler ≤ 1.10× its bound",
                               f"{ours['wall_ms'] / b:.3f}×", ours["wall_ms"] / b <= 1.10))
        else:
            checks.append((f"install_sim{label}: scheduler ≤ 1.01× the best other",
                           f"{r:.3f}×", r <= 1.01))
    head = (f"### install simulation, {title} ({data['packages']} packages, "
            f"{data['bytes'] / 1e6:.1f} MB needed, transfer floor {data['floor_ms']:.0f} ms)\n\n")
    header = ["strategy", "wall ms", "bound ms", "÷ bound", "requests", "duplicates", "MB sent",
              "demand wait ms"]
    if rounds:
        header.append("wall ms of every run")
    return head + table(header, rows), checks


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default=default_target(), help="cargo target directory")
    args = parser.parse_args()
    if not os.path.isdir(args.target):
        sys.exit(f"no target directory at {args.target}")
    latency = load_json(args.target, "promotion-latency.json")
    sections = [
        hit_or_join(args.target, "hit", ["dashmap_notify", "papaya_notify", "moka_get_with"], floor="std_hashmap"),
        interleaved(args.target, "hit", floor="std_hashmap"),
        hit_or_join(args.target, "join", ["dashmap_notify", "papaya_notify", "moka_get_with"]),
        interleaved(args.target, "join"),
        promotion(args.target, "promotion_tokio", latency),
        promotion_interleaved(args.target, "promotion_tokio"),
        promotion(args.target, "promotion_smol", latency),
        promotion_interleaved(args.target, "promotion_smol"),
        throughput(args.target, "throughput_tokio"),
        throughput_interleaved(args.target, "throughput_tokio"),
        throughput(args.target, "throughput_smol"),
        throughput_interleaved(args.target, "throughput_smol"),
        realistic(args.target, "throughput_realistic_tokio"),
        realistic(args.target, "throughput_realistic_smol"),
        memory(load_json(args.target, "memory.json")),
        install_sim(load_json(args.target, "install-sim.json"), "defaults", "", True),
        install_sim(load_json(args.target, "install-sim-resolve16.json"), "slow metadata (resolution 16)",
                    " (resolve 16)", False),
        install_sim(load_json(args.target, "install-sim-packages200.json"), "200 packages",
                    " (200 packages)", False),
        install_sim(load_json(args.target, "install-sim-bandwidth50.json"), "50 Mbit/s",
                    " (50 Mbit/s)", False),
    ]
    checks = [c for _, cs in sections for c in cs]
    print("\n\n".join(text for text, _ in sections))
    if checks:
        print("\n### targets\n")
        print(table(["target", "measured", "verdict"], [[n, v, verdict(ok)] for n, v, ok in checks]))


if __name__ == "__main__":
    main()
