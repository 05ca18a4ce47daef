//! The byte budget on the workload of pnpm/pnpm#13681 in small: 2,000 small tarballs (1 kB–1 MB,
//! log-uniform, ~290 MB in all) and 10 of 200 MiB, 64 slots, every body held in memory as it
//! downloads until the job ends — as pacquet holds a tarball until it is extracted. The downloads
//! share one shaped link (`fetch_scheduler_benches::link`: 400 MB/s, no per-connection limit).
//!
//! The install: `prefetch_with_hint` every tarball with its size (the lockfile order, the large
//! ones spread through it), then `get_all` of them all. The fetcher sets its job's weight to the
//! `Content-Length` before the first chunk, allocates and fills each 256 KiB chunk as it arrives,
//! and drops the body when it ends.
//!
//! Variants: no budget; a budget of 600 MiB (3× the largest tarball), sizes hinted; the same budget
//! without hints (every job starts at the default weight of 1 MiB and learns its size from the
//! `Content-Length`). Each runs three times, in turns, each run in a process of its own so its
//! peak RSS (`VmHWM`) is its own. Reported: the median wall time, the most bytes the fetchers held
//! at once (counted by the fetcher), the scheduler's `peak_bytes_held`, how often a job waited
//! for bytes, and the peak RSS. Targets: with the hinted budget, bytes held ≤ budget + one chunk
//! per slot, and wall ≤ 1.05× the unbudgeted run. Writes `target/byte-budget.json`.
//!
//! Not a criterion benchmark: a run takes seconds of shaped transfer, and its figures are counted.
//! Skipped outside `cargo bench` and when the filter does not match `byte_budget`.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use fetch_scheduler::{JobContext, Scheduler};
use fetch_scheduler_benches::keys::tarball_urls;
use fetch_scheduler_benches::link::{Connection, Link};
use fetch_scheduler_benches::{NoError, Value, target_dir};
use fetch_scheduler_tokio::TokioRuntime;
use futures_lite::StreamExt;
use serde_json::{Value as Json, json};

const SMALL: usize = 2000;
const LARGE: usize = 10;
const LARGE_SIZE: u64 = 200 << 20;
const SLOTS: usize = 64;
const CHUNK: u64 = 256 << 10;
const LINK_BYTES_PER_SEC: f64 = 400e6;
const BUDGET: u64 = 3 * LARGE_SIZE;
const ROUNDS: usize = 3;

/// (name, budget, sizes given as hints)
const VARIANTS: [(&str, Option<u64>, bool); 3] = [
    ("no budget", None, true),
    ("budget 600 MiB", Some(BUDGET), true),
    ("budget 600 MiB, no hints", Some(BUDGET), false),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--variant") {
        let n: usize = args[i + 1].parse().expect("a variant index");
        println!("{}", run_variant(n));
        return;
    }
    if !args.iter().any(|arg| arg == "--bench") {
        println!("byte_budget: skipped (run it with `cargo bench`)");
        return;
    }
    let filters: Vec<&String> = args.iter().filter(|arg| !arg.starts_with('-')).collect();
    if !filters.is_empty() && !filters.iter().any(|f| "byte_budget".contains(f.as_str())) {
        return;
    }
    let exe = std::env::current_exe().expect("the bench's own path");
    let mut runs: Vec<Vec<Json>> = vec![Vec::new(); VARIANTS.len()];
    for round in 0..ROUNDS {
        for (n, run) in runs.iter_mut().enumerate() {
            let out = Command::new(&exe)
                .args(["--variant", &n.to_string()])
                .output()
                .expect("the bench runs itself");
            assert!(out.status.success(), "variant {n} failed: {out:?}");
            let record: Json = serde_json::from_slice(&out.stdout).expect("one JSON line");
            println!("round {round}: {}: {record}", VARIANTS[n].0);
            run.push(record);
        }
    }
    report(&runs);
}

/// The workload: (URL, size), the large ones spread through the small ones.
fn workload() -> Vec<(String, u64)> {
    let mut rng = fastrand::Rng::with_seed(13681);
    let (lo, hi) = (1e3f64.ln(), 1e6f64.ln());
    tarball_urls(SMALL + LARGE)
        .into_iter()
        .enumerate()
        .map(|(i, url)| {
            let size = if i % ((SMALL + LARGE) / LARGE) == 100 {
                LARGE_SIZE
            } else {
                (lo + rng.f64() * (hi - lo)).exp() as u64
            };
            (url, size)
        })
        .collect()
}

/// Bytes the fetchers hold now, and the most at once.
#[derive(Default)]
struct Meter {
    now: AtomicU64,
    peak: AtomicU64,
}

impl Meter {
    fn add(&self, n: u64) {
        let now = self.now.fetch_add(n, Ordering::Relaxed) + n;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }
    fn sub(&self, n: u64) {
        self.now.fetch_sub(n, Ordering::Relaxed);
    }
}

/// Runs variant `n` once in this process; returns its record.
fn run_variant(n: usize) -> Json {
    let (_, budget, hinted) = VARIANTS[n];
    let work = workload();
    let sizes: Arc<std::collections::HashMap<String, u64>> =
        Arc::new(work.iter().cloned().collect());
    let link = Arc::new(Link::new(LINK_BYTES_PER_SEC));
    let meter = Arc::new(Meter::default());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a tokio runtime");
    let fetch = {
        let meter = Arc::clone(&meter);
        move |url: &String, cx: JobContext| {
            let size = sizes[url];
            let (link, meter) = (Arc::clone(&link), Arc::clone(&meter));
            async move {
                cx.set_weight(size); // the Content-Length
                let mut conn = Connection::default();
                let mut body: Vec<Vec<u8>> = Vec::new();
                let mut got = 0;
                while got < size {
                    let n = CHUNK.min(size - got);
                    link.receive(&mut conn, n as usize).await;
                    body.push(vec![0xA5; n as usize]); // written, so resident
                    meter.add(n);
                    got += n;
                }
                let check: u64 = body.iter().map(|c| u64::from(c[c.len() - 1])).sum();
                drop(body); // extracted: the body is no longer held
                meter.sub(size);
                Ok::<Value, NoError>(Arc::new(check))
            }
        }
    };
    let (wall, stats) = rt.block_on(async {
        let mut builder = Scheduler::builder().concurrency(SLOTS);
        if let Some(budget) = budget {
            builder = builder.byte_budget(budget);
        }
        let s = builder
            .build(TokioRuntime::new(tokio::runtime::Handle::current()), fetch)
            .expect("valid configuration");
        let hint = |size: u64| if hinted { size } else { 0 };
        let started = Instant::now();
        for (url, size) in &work {
            s.prefetch_with_hint(url.clone(), hint(*size));
        }
        let mut all = s.get_all(work.iter().map(|(url, size)| (url.clone(), hint(*size))));
        while let Some((_, answer)) = all.next().await {
            answer.expect("no download fails");
        }
        (started.elapsed(), s.stats())
    });
    json!({
        "wall_ms": wall.as_secs_f64() * 1e3,
        "peak_bytes_held": meter.peak.load(Ordering::Relaxed),
        "scheduler_peak_bytes_held": stats.peak_bytes_held,
        "waited_for_bytes": stats.waited_for_bytes,
        "peak_rss_bytes": peak_rss(),
    })
}

/// This process's peak resident set (`VmHWM`), in bytes; 0 where `/proc` has none.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn max_of(runs: &[Json], field: &str) -> u64 {
    runs.iter()
        .filter_map(|r| r[field].as_u64())
        .max()
        .unwrap_or(0)
}

fn report(runs: &[Vec<Json>]) {
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    let walls: Vec<f64> = runs
        .iter()
        .map(|r| median(r.iter().filter_map(|x| x["wall_ms"].as_f64()).collect()))
        .collect();
    println!(
        "\nbyte_budget: {SMALL} small + {LARGE} × {} MiB tarballs, {SLOTS} slots, link {} MB/s, \
         chunk {} KiB; median of {ROUNDS} runs",
        LARGE_SIZE >> 20,
        LINK_BYTES_PER_SEC / 1e6,
        CHUNK >> 10
    );
    println!(
        "{:<26} {:>9} {:>9} {:>16} {:>16} {:>8} {:>14}",
        "variant", "wall ms", "× none", "peak held MiB", "sched peak MiB", "waited", "peak RSS MiB"
    );
    let mut rows = Vec::new();
    for (n, (name, budget, hinted)) in VARIANTS.iter().enumerate() {
        let held = max_of(&runs[n], "peak_bytes_held");
        let sched = max_of(&runs[n], "scheduler_peak_bytes_held");
        let rss = max_of(&runs[n], "peak_rss_bytes");
        let waited = max_of(&runs[n], "waited_for_bytes");
        let ratio = walls[n] / walls[0];
        println!(
            "{name:<26} {:>9.0} {ratio:>9.3} {:>16.1} {:>16.1} {waited:>8} {:>14.1}",
            walls[n],
            mib(held),
            mib(sched),
            mib(rss)
        );
        rows.push(json!({
            "variant": name, "budget": budget, "hinted": hinted, "wall_ms": walls[n],
            "wall_vs_none": ratio, "peak_bytes_held": held, "scheduler_peak_bytes_held": sched,
            "waited_for_bytes": waited, "peak_rss_bytes": rss, "runs": runs[n],
        }));
    }
    let bound = BUDGET + CHUNK * SLOTS as u64;
    let held = max_of(&runs[1], "peak_bytes_held");
    let ratio = walls[1] / walls[0];
    let met = |ok: bool| if ok { "met" } else { "NOT met" };
    println!(
        "target: peak bytes held ≤ budget + one chunk per slot ({:.0} MiB): {:.1} MiB, {}",
        mib(bound),
        mib(held),
        met(held <= bound)
    );
    println!(
        "target: wall ≤ 1.05× no budget (budget = 3× the largest): {ratio:.3}×, {}",
        met(ratio <= 1.05)
    );
    let path = target_dir().join("byte-budget.json");
    let json = serde_json::to_string_pretty(&json!({ "variants": rows })).expect("serializes");
    match std::fs::write(&path, json) {
        Ok(()) => println!("wrote {}", path.display()),
        Err(error) => eprintln!("byte_budget: cannot write {}: {error}", path.display()),
    }
}
