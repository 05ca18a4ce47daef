//! The criterion microbenchmarks: `hit`, `join`, `promotion_tokio`, `promotion_smol`,
//! `throughput_tokio`, `throughput_smol`, `throughput_realistic_tokio`,
//! `throughput_realistic_smol`. Peers run in the same process and run.
//!
//! `cargo bench -p fetch-scheduler-benches --bench micro -- --quick`, then
//! `python3 benches/report.py` for the tables.
//!
//! - `hit`: a done key read back as an owned value; 10 000 URL keys cycled in a fixed shuffled
//!   order. `fetch_scheduler` (`peek`), `std_hashmap` (the floor), `dashmap_notify`,
//!   `papaya_notify`, `moka_get_with` (see `src/peers/`).
//! - `join`: a second caller joins one of 1024 keys whose fetch is in flight; its join is polled
//!   once (registering its waker) and dropped, so every variant pays registration and
//!   deregistration, nothing else.
//! - `promotion_*`: `get` on a queued prefetch, timed with `iter_custom` from the call to the
//!   moment the fetcher is called on an executor thread. A prefetch can only be queued while every
//!   prefetch slot is busy, so both cases start it in the demand reserve: `free_slot` is a small
//!   scheduler (2 slots, 1 reserved, one other prefetch running, the target first in the queue);
//!   `saturated` a loaded one (16 slots, 4 reserved, 12 prefetches running and 1000 queued ahead of
//!   the target). `bare_wake`, the floor: one `event_listener` notify to a task parked on the same
//!   executor, timed until the task runs. Every round starts after the same untimed pause, with the
//!   executor's threads parked (see [`settle`]). Each function also prints p50/p99 of its round trips and
//!   writes them to `target/promotion-latency.json`.
//! - `throughput_*`: 10 000 no-op jobs with 64 slots on 2 executor threads: a fresh scheduler and
//!   `get_all` of every key, against a spawn per job whose task first takes a semaphore permit
//!   (`tokio::sync::Semaphore` / `async_lock::Semaphore`); both collect every `(key, value)`.
//!   A tripwire only: real jobs wait for the network. `semaphore_spawn_kept` is not a peer but a
//!   reference: the same spawns, each
//!   also keeping its value in a `DashMap` as ours keeps its results, so the report can say what
//!   keeping results costs.
//! - `throughput_realistic_*`: what an installer waits for. 10 000 jobs on 64 slots whose fetch
//!   sleeps a seeded log-normal time (median 2 ms, σ = 1: a few take 50 ms or more), one in five
//!   instant (a cache hit); ours (a `get` per key, awaited in key order) against `semaphore_spawn`
//!   (a task per job behind a semaphore, sleeping the same time, its join handles awaited in key
//!   order); `fetch_scheduler_get_all` is ours collected as one `get_all` in completion order, a
//!   reference for what waking the consumer once per answer costs. Each group then runs 3 more
//!   batches per function, taking turns, and writes wall time per batch and CPU time per job (the
//!   threads' CPU times in nanoseconds, from `/proc`) to `target/realistic-<group>.json`.
//!
//! `hit` and `join` are followed by an interleaved cross-check (see [`interleaved`]), the
//! promotion groups by one that alternates round trips (see [`interleaved_promotion`]), the
//! throughput groups by one that alternates whole batches (see [`interleaved_batches`]): on a
//! machine whose load comes and goes, criterion's one-function-after-another ratios can be far off.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use dashmap::DashMap;
use event_listener::Event;
use fetch_scheduler::{BoxFuture, JobContext, Prefetched, Runtime, Scheduler};
use fetch_scheduler_benches::keys::{Cycle, tarball_urls};
use fetch_scheduler_benches::latency::{Latencies, Summary};
use fetch_scheduler_benches::ours::{self, Sched};
use fetch_scheduler_benches::peers::dashmap_notify::{DashmapNotify, SiblingFetchFailed};
use fetch_scheduler_benches::peers::moka_get_with::MokaGetWith;
use fetch_scheduler_benches::peers::papaya_notify::PapayaNotify;
use fetch_scheduler_benches::peers::std_hashmap::StdHashMap;
use fetch_scheduler_benches::poll::{poll_once, register};
use fetch_scheduler_benches::{Hasher, NoError, Value, target_dir};
use fetch_scheduler_smol::SmolRuntime;
use fetch_scheduler_tokio::TokioRuntime;
use futures_lite::StreamExt;
use smol::Executor;

/// Done keys in the `hit` group (pacquet's benchmark has 1355 packages; more keys than that so the
/// maps do not all sit in L1).
const HIT_KEYS: usize = 10_000;
/// Keys in flight in the `join` group.
const JOIN_KEYS: usize = 1_024;
/// No-op jobs per iteration of the `throughput` groups.
const JOBS: usize = 10_000;
/// Slots (and semaphore permits) in the `throughput` groups: the install simulation's default.
const SLOTS: usize = 64;
/// Threads driving each executor: the machine's two cores.
const THREADS: usize = 2;

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(THREADS)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A smol executor run by `THREADS` threads until dropped.
struct SmolPool {
    executor: Arc<Executor<'static>>,
    stop: Option<smol::channel::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl SmolPool {
    fn new() -> Self {
        let executor = Arc::new(Executor::new());
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let threads = (0..THREADS)
            .map(|_| {
                let executor = Arc::clone(&executor);
                let stopped = stopped.clone();
                std::thread::spawn(move || {
                    let _ = smol::block_on(executor.run(stopped.recv()));
                })
            })
            .collect();
        SmolPool {
            executor,
            stop: Some(stop),
            threads,
        }
    }

    fn runtime(&self) -> SmolRuntime {
        SmolRuntime::new(&self.executor)
    }
}

impl Drop for SmolPool {
    fn drop(&mut self) {
        drop(self.stop.take());
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

// ---- hit ----------------------------------------------------------------------------------------

fn value_of(key: &str) -> Value {
    Arc::new(key.len() as u64)
}

/// Whether this is a real run (`cargo bench` passes `--bench`; `cargo test` runs each benchmark
/// once in criterion's test mode, whose figures must not overwrite the JSON outputs).
fn benchmarking() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

/// One operation on one key, as benchmarked: its output goes through `black_box`.
type Op<'a> = (&'static str, &'a dyn Fn(&String));

/// Benchmarks each op with criterion (keys cycled), then runs [`interleaved`].
fn bench_ops(c: &mut Criterion, group_name: &str, keys: &[String], ops: &[Op<'_>]) {
    let mut group = c.benchmark_group(group_name);
    for &(name, op) in ops {
        group.bench_function(name, |b| {
            let mut cycle = Cycle::new(keys);
            b.iter(|| op(black_box(cycle.next())))
        });
    }
    group.finish();
    interleaved(group_name, keys, ops);
}

/// Rounds of the interleaved cross-check; each round times a batch of every op in turn.
const ROUNDS: usize = 21;
/// Operations per batch of the interleaved cross-check.
const BATCH: usize = 4096;

/// A cross-check that holds on a noisy machine: criterion measures one function after the other,
/// so load that comes and goes skews their ratios; here every round times a batch of each op in
/// turn, and the per-op median over the rounds is printed (ns per op) and written to
/// `target/interleaved-<group>.json`. Runs unless criterion lists or tests (`--list`, `--test`),
/// a name filter leaves the group out, or `FETCH_BENCH_INTERLEAVED=0`.
fn interleaved(group_name: &str, keys: &[String], ops: &[Op<'_>]) {
    if !interleaving(group_name) {
        return;
    }
    let batches: Vec<Box<dyn Fn() -> f64 + '_>> = ops
        .iter()
        .map(|&(_, op)| {
            Box::new(move || {
                let mut cycle = Cycle::new(keys);
                let t0 = Instant::now();
                for _ in 0..BATCH {
                    op(black_box(cycle.next()));
                }
                t0.elapsed().as_nanos() as f64 / BATCH as f64
            }) as Box<dyn Fn() -> f64>
        })
        .collect();
    let samples = rotated_rounds(ROUNDS, &batches);
    let names: Vec<&str> = ops.iter().map(|&(name, _)| name).collect();
    write_medians(group_name, "ns/op", &names, samples);
}

/// Runs `rounds` rounds of every sampler in turn — rotating which goes first, so none always runs
/// first in a round — and returns each sampler's samples.
fn rotated_rounds(rounds: usize, samplers: &[Box<dyn Fn() -> f64 + '_>]) -> Vec<Vec<f64>> {
    let mut samples = vec![Vec::with_capacity(rounds); samplers.len()];
    for round in 0..rounds {
        for i in 0..samplers.len() {
            let at = (i + round) % samplers.len();
            samples[at].push(samplers[at]());
        }
    }
    samples
}

/// Whether the interleaved cross-check of `group_name` runs: not when criterion lists or tests
/// (`--list`, `--test`), when a name filter leaves the group out, or with
/// `FETCH_BENCH_INTERLEAVED=0`.
fn interleaving(group_name: &str) -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let filtered_out = !filters.is_empty()
        && !filters
            .iter()
            .any(|f| f.contains(group_name) || group_name.contains(f.as_str()));
    !(filtered_out
        || !benchmarking()
        || args.iter().any(|a| a == "--list")
        || std::env::var_os("FETCH_BENCH_INTERLEAVED").is_some_and(|v| v == "0"))
}

/// Prints the median of each variant's samples (in `unit`) and writes them to
/// `target/interleaved-<group>.json`.
fn write_medians(group_name: &str, unit: &str, names: &[&str], samples: Vec<Vec<f64>>) {
    let mut json = serde_json::Map::new();
    print!("{group_name} interleaved medians ({unit}):");
    for (name, mut s) in names.iter().zip(samples) {
        s.sort_by(f64::total_cmp);
        let median = s[s.len() / 2];
        print!("  {name} {median:.3}");
        json.insert(name.to_string(), serde_json::json!(median));
    }
    println!();
    let path = target_dir().join(format!("interleaved-{group_name}.json"));
    let text = serde_json::to_string_pretty(&json).expect("json");
    if let Err(error) = std::fs::write(&path, text) {
        eprintln!("could not write {}: {error}", path.display());
    }
}

/// Rounds of the throughput groups' interleaved cross-check: each round runs one batch of every
/// variant in turn.
const BATCH_ROUNDS: usize = 61;

/// One throughput variant: runs one batch of `JOBS` jobs and returns how long it took (what it
/// made is dropped after the clock stops, as in [`time_batches`]).
type BatchRun<'a> = (&'static str, &'a dyn Fn() -> Duration);

/// The interleaved cross-check of a throughput group: criterion times all batches of one variant,
/// then all of the next, so a load that comes and goes over seconds moves their ratio; here every
/// round times one batch of each variant in turn, starting with a different one each round. Medians in ms per batch go to
/// `target/interleaved-<group>.json`.
fn interleaved_batches(group_name: &str, runs: &[BatchRun<'_>]) {
    if !interleaving(group_name) {
        return;
    }
    let batches: Vec<Box<dyn Fn() -> f64 + '_>> = runs
        .iter()
        .map(|&(_, run)| Box::new(move || run().as_secs_f64() * 1e3) as Box<dyn Fn() -> f64>)
        .collect();
    let samples = rotated_rounds(BATCH_ROUNDS, &batches);
    let names: Vec<&str> = runs.iter().map(|&(name, _)| name).collect();
    write_medians(group_name, "ms/batch", &names, samples);
}

/// A done key read back, owned `V` out, in every variant; keys cycled in a fixed shuffled order.
/// Ours is read with `peek` (the warm path); uv's with `OnceMap::get`; pacquet's and moka's through
/// their one request path (`run_with_mem_cache`, `get_with`), polled once.
fn hit(c: &mut Criterion) {
    let keys = tarball_urls(HIT_KEYS);
    let rt = tokio_runtime();
    let ours = ours::filled(TokioRuntime::new(rt.handle().clone()), &keys, |drain| {
        rt.block_on(drain)
    });
    let mut floor = StdHashMap::new();
    let dashmap = DashmapNotify::new();
    let papaya = PapayaNotify::new();
    let moka = MokaGetWith::new();
    for key in &keys {
        floor.insert(key.clone(), value_of(key));
        let got = poll_once(dashmap.get_or_fetch(key, || async { Ok(value_of(key)) }));
        assert!(matches!(got, Some(Ok(_))));
        assert!(poll_once(papaya.get_or_fetch(key, || async { value_of(key) })).is_some());
        assert!(poll_once(moka.get_with(key, async { value_of(key) })).is_some());
    }
    futures_lite::future::block_on(moka.sync());

    let ours_op = |key: &String| {
        black_box(ours.peek(key).expect("done"));
    };
    let floor_op = |key: &String| {
        black_box(floor.get(key).expect("done"));
    };
    let dashmap_op = |key: &String| {
        let hit = poll_once(dashmap.get_or_fetch(key, || async { Err(SiblingFetchFailed) }));
        black_box(hit.expect("a hit answers at once").expect("done"));
    };
    let papaya_op = |key: &String| {
        black_box(papaya.get(key).expect("done"));
    };
    let moka_op = |key: &String| {
        let hit = poll_once(moka.get_with(key, async { unreachable!("a hit never runs init") }));
        black_box(hit.expect("a hit answers at once"));
    };
    let ops: [Op<'_>; 5] = [
        ("fetch_scheduler", &ours_op),
        ("std_hashmap", &floor_op),
        ("dashmap_notify", &dashmap_op),
        ("papaya_notify", &papaya_op),
        ("moka_get_with", &moka_op),
    ];
    bench_ops(c, "hit", &keys, &ops);
    drop(ours);
    drop(rt);
}

// ---- join ---------------------------------------------------------------------------------------

/// A second caller joins a key whose fetch is in flight (a first caller holds it and its fetch
/// never ends): the join is created, polled once so it registers its waker, and dropped. Every
/// variant pays registration and deregistration; nobody's fetch completes. Ours is `get` (which
/// takes an owned key, so the key is cloned); pacquet's is `run_with_mem_cache`'s non-owner path
/// (`entry(url.to_string())`); uv's is `register(key.to_owned())` then `wait(&key)`; moka's is
/// `get_with` on a key another caller is initializing.
fn join(c: &mut Criterion) {
    let keys = tarball_urls(JOIN_KEYS);
    let rt = tokio_runtime();
    let (ours, _first_callers) = ours::in_flight(TokioRuntime::new(rt.handle().clone()), &keys);

    let dashmap = DashmapNotify::<Value>::new();
    let _dashmap_owners: Vec<_> = keys
        .iter()
        .map(|key| register(dashmap.get_or_fetch(key, std::future::pending)))
        .collect();
    let papaya = PapayaNotify::<Value>::new();
    for key in &keys {
        assert!(papaya.register(key.clone()), "the owner claims first");
    }
    let moka = MokaGetWith::<Value>::new();
    let _moka_owners: Vec<_> = keys
        .iter()
        .map(|key| register(moka.get_with(key, std::future::pending())))
        .collect();

    let ours_op = |key: &String| {
        assert!(poll_once(ours.get(key.clone())).is_none());
    };
    let dashmap_op = |key: &String| {
        let join = dashmap.get_or_fetch(key, || async { unreachable!("a joiner never fetches") });
        assert!(poll_once(join).is_none());
    };
    let papaya_op = |key: &String| {
        let join = papaya.get_or_fetch(key, || async { unreachable!("a joiner never fetches") });
        assert!(poll_once(join).is_none());
    };
    let moka_op = |key: &String| {
        let join = moka.get_with(key, async { unreachable!("a joiner never runs init") });
        assert!(poll_once(join).is_none());
    };
    let ops: [Op<'_>; 4] = [
        ("fetch_scheduler", &ours_op),
        ("dashmap_notify", &dashmap_op),
        ("papaya_notify", &papaya_op),
        ("moka_get_with", &moka_op),
    ];
    bench_ops(c, "join", &keys, &ops);
}

// ---- promotion ----------------------------------------------------------------------------------

/// Untimed pause before every promotion round trip, in every function alike, so each round starts
/// with the executor's threads parked. Without it the state of the executor at `t0` depends on how
/// much untimed work the round did before (a worker still awake picks a task up in ~2 µs; a parked
/// one takes a futex wake, ~10 µs), and the floor and ours would not be measured alike.
fn settle() {
    std::thread::sleep(Duration::from_micros(50));
}

/// Round trips of one promotion scenario: a queued prefetch, then `get` on it, timed until its
/// fetcher is called on an executor thread.
struct Promotion {
    sched: Sched,
    started: mpsc::Receiver<Instant>,
    next: u64,
}

impl Promotion {
    /// `free_slot`: 2 slots, 1 reserved; one other prefetch runs, the target is first in the queue.
    /// `saturated`: 16 slots, 4 reserved; 12 prefetches fill every prefetch slot and 1000 more are
    /// queued ahead of the target.
    fn new(runtime: impl Runtime, saturated: bool) -> Self {
        let (tx, started) = mpsc::channel();
        let (concurrency, reserved, running, queued) = if saturated {
            (16, 4, 12, 1000)
        } else {
            (2, 1, 1, 0)
        };
        let sched: Sched = Scheduler::builder()
            .concurrency(concurrency)
            .reserved_for_demand(reserved)
            .build(runtime, move |key: &String, _cx: JobContext| {
                let now = Instant::now();
                let target = key.starts_with("target");
                if target {
                    let _ = tx.send(now);
                }
                async move {
                    if !target {
                        std::future::pending::<()>().await;
                    }
                    Ok::<_, NoError>(Value::default())
                }
            })
            .expect("valid configuration");
        for i in 0..running + queued {
            sched.prefetch(format!(
                "https://registry.example.test/other-{i}/-/other-{i}-1.0.0.tgz"
            ));
        }
        let stats = sched.stats();
        assert_eq!(
            (stats.running_prefetch, stats.queued_prefetch),
            (running, queued)
        );
        Promotion {
            sched,
            started,
            next: 0,
        }
    }

    fn round(&mut self) -> Duration {
        let key = format!(
            "target-https://registry.example.test/pkg-{0}/-/pkg-{0}-1.0.0.tgz",
            self.next
        );
        self.next += 1;
        assert_eq!(self.sched.prefetch(key.clone()), Prefetched::Queued);
        settle();
        let t0 = Instant::now();
        let wait = self.sched.get(key.clone());
        let t1 = self.started.recv().expect("the fetcher started");
        futures_lite::future::block_on(wait).expect("the job succeeded");
        assert!(self.sched.forget(&key));
        t1.saturating_duration_since(t0)
    }
}

/// The floor: a task parked on an `event_listener::Event`; one `notify`, timed until the task runs.
struct BareWake {
    event: Arc<Event>,
    armed: mpsc::Receiver<()>,
    woke: mpsc::Receiver<Instant>,
}

impl BareWake {
    fn new(spawn: impl FnOnce(BoxFuture<'static, ()>)) -> Self {
        let event = Arc::new(Event::new());
        let (armed_tx, armed) = mpsc::channel();
        let (woke_tx, woke) = mpsc::channel();
        let listened = Arc::clone(&event);
        spawn(Box::pin(async move {
            loop {
                let listener = listened.listen();
                if armed_tx.send(()).is_err() {
                    return;
                }
                listener.await;
                if woke_tx.send(Instant::now()).is_err() {
                    return;
                }
            }
        }));
        BareWake { event, armed, woke }
    }

    fn round(&mut self) -> Duration {
        self.armed.recv().expect("the task listens");
        settle();
        let t0 = Instant::now();
        self.event.notify(1);
        let t1 = self.woke.recv().expect("the task woke");
        t1.saturating_duration_since(t0)
    }
}

/// Round-trip percentiles of every promotion function run, for `target/promotion-latency.json`.
type Percentiles = BTreeMap<String, BTreeMap<String, Summary>>;

fn time_rounds(
    group: &mut BenchmarkGroup<'_, WallTime>,
    percentiles: &Mutex<Percentiles>,
    group_name: &str,
    name: &str,
    mut round: impl FnMut() -> Duration,
) {
    let mut latencies = Latencies::new();
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let rtt = round();
                latencies.record(rtt);
                total += rtt;
            }
            total
        })
    });
    if let Some(summary) = latencies.summary() {
        println!("{group_name}/{name}: {summary}");
        percentiles
            .lock()
            .unwrap()
            .entry(group_name.to_string())
            .or_default()
            .insert(name.to_string(), summary);
    }
}

fn promotion_group(
    c: &mut Criterion,
    percentiles: &Mutex<Percentiles>,
    name: &str,
    runtime: impl Runtime + Clone,
    spawn: impl FnOnce(BoxFuture<'static, ()>),
) {
    let mut group = c.benchmark_group(name);
    // Each round trip also sleeps in `settle`, which criterion does not see: keep the time budget
    // small so the wall time stays sane.
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_secs(1));
    let mut free = Promotion::new(runtime.clone(), false);
    time_rounds(&mut group, percentiles, name, "free_slot", || free.round());
    let mut saturated = Promotion::new(runtime, true);
    time_rounds(&mut group, percentiles, name, "saturated", || {
        saturated.round()
    });
    let mut bare = BareWake::new(spawn);
    time_rounds(&mut group, percentiles, name, "bare_wake", || bare.round());
    group.finish();
    interleaved_promotion(name, free, saturated, bare);
}

/// Round trips of each scenario in the promotion groups' interleaved cross-check.
const PROMOTION_ROUNDS: usize = 501;

/// The interleaved cross-check of a promotion group: criterion times every round trip of one
/// scenario, then of the next, and a wake-up on a shared machine costs what its host is doing at
/// that moment; here each round times one round trip of every scenario in turn, rotating which
/// goes first. The median round trip of each (its p50, in µs) goes to
/// `target/interleaved-<group>.json`.
fn interleaved_promotion(group_name: &str, free: Promotion, saturated: Promotion, bare: BareWake) {
    if !interleaving(group_name) {
        return;
    }
    let (free, saturated, bare) = (
        RefCell::new(free),
        RefCell::new(saturated),
        RefCell::new(bare),
    );
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    let samplers: [Box<dyn Fn() -> f64 + '_>; 3] = [
        Box::new(|| micros(free.borrow_mut().round())),
        Box::new(|| micros(saturated.borrow_mut().round())),
        Box::new(|| micros(bare.borrow_mut().round())),
    ];
    let samples = rotated_rounds(PROMOTION_ROUNDS, &samplers);
    write_medians(
        group_name,
        "µs, p50",
        &["free_slot", "saturated", "bare_wake"],
        samples,
    );
}

fn promotion(c: &mut Criterion) {
    let percentiles = Mutex::new(Percentiles::new());
    {
        let rt = tokio_runtime();
        let handle = rt.handle().clone();
        promotion_group(
            c,
            &percentiles,
            "promotion_tokio",
            TokioRuntime::new(handle.clone()),
            |task| drop(handle.spawn(task)),
        );
        rt.shutdown_background();
    }
    {
        let pool = SmolPool::new();
        let executor = Arc::clone(&pool.executor);
        promotion_group(c, &percentiles, "promotion_smol", pool.runtime(), |task| {
            executor.spawn(task).detach()
        });
    }
    let percentiles = percentiles.into_inner().unwrap();
    if !percentiles.is_empty() && benchmarking() {
        let json: serde_json::Map<String, serde_json::Value> = percentiles
            .iter()
            .map(|(group, functions)| {
                let functions = functions
                    .iter()
                    .map(|(name, s)| {
                        let ns = |d: Duration| d.as_nanos() as u64;
                        let entry = serde_json::json!({
                            "p50_ns": ns(s.p50), "p99_ns": ns(s.p99),
                            "mean_ns": ns(s.mean), "count": s.count,
                        });
                        (name.clone(), entry)
                    })
                    .collect::<serde_json::Map<_, _>>();
                (group.clone(), serde_json::Value::Object(functions))
            })
            .collect();
        let path = target_dir().join("promotion-latency.json");
        let text = serde_json::to_string_pretty(&json).expect("json");
        if let Err(error) = std::fs::write(&path, text) {
            eprintln!("could not write {}: {error}", path.display());
        }
    }
}

// ---- throughput ---------------------------------------------------------------------------------

/// `JOBS` no-op jobs through our scheduler: a fresh scheduler with `SLOTS` slots, `get_all` of
/// every key, every `(key, value)` collected. The scheduler (holding the kept values) is handed
/// back with the results, so that its teardown is not timed — as no contender's results are.
async fn ours_batch(runtime: impl Runtime, keys: &[String]) -> Batch<ours::Sched> {
    let sched = ours::instant(runtime, SLOTS);
    let mut answers = sched.get_all(keys.iter().cloned());
    let mut out = Vec::with_capacity(keys.len());
    while let Some((key, result)) = answers.next().await {
        out.push((key, result.expect("no-op jobs succeed")));
    }
    drop(answers);
    (out, sched)
}

/// What one batch produced: every `(key, value)`, and what keeps values besides (our scheduler,
/// `semaphore_spawn_kept`'s map), dropped after the clock stops like the results.
type Batch<Keeper> = (Vec<(String, Value)>, Keeper);

/// Times `iters` batches of `run`, each of which must return all `JOBS` results. The clock stops
/// when the last result is in: what a batch returns is dropped after, for every contender alike
/// (freeing 10 000 keys and values is the same work whoever made them, and an installer never
/// frees its scheduler on its hot path).
fn time_batches<Keeper>(iters: u64, mut run: impl FnMut() -> Batch<Keeper>) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let t0 = Instant::now();
        let (out, keeper) = run();
        total += t0.elapsed();
        assert_eq!(out.len(), JOBS);
        drop((out, keeper));
    }
    total
}

/// Where a `semaphore_spawn_kept` batch keeps its values, as ours keeps its in its store.
type KeptValues = Arc<DashMap<String, Value, Hasher>>;

/// The body of one `semaphore_spawn` task once it holds its permit: the no-op job, and with
/// `kept` (the `semaphore_spawn_kept` variant) the value kept by key.
fn semaphore_job(key: String, kept: Option<&KeptValues>) -> (String, Value) {
    let value = value_of(&key);
    if let Some(kept) = kept {
        kept.insert(key.clone(), Arc::clone(&value));
    }
    (key, value)
}

/// A fresh map for `semaphore_spawn_kept`, none for `semaphore_spawn`.
fn kept_values(keep: bool) -> Option<KeptValues> {
    keep.then(|| Arc::new(DashMap::with_hasher(Hasher::default())))
}

/// `JOBS` no-op jobs, a tokio task each behind a semaphore of `SLOTS` permits.
async fn semaphore_batch_tokio(keys: &[String], keep: bool) -> Batch<Option<KeptValues>> {
    let permits = Arc::new(tokio::sync::Semaphore::new(SLOTS));
    let kept = kept_values(keep);
    let tasks: Vec<_> = keys
        .iter()
        .cloned()
        .map(|key| {
            let permits = Arc::clone(&permits);
            let kept = kept.clone();
            tokio::spawn(async move {
                let _permit = permits.acquire().await.expect("open");
                semaphore_job(key, kept.as_ref())
            })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await.expect("no panic"));
    }
    (out, kept)
}

/// `JOBS` no-op jobs, a smol task each behind a semaphore of `SLOTS` permits.
async fn semaphore_batch_smol(
    executor: &Executor<'static>,
    keys: &[String],
    keep: bool,
) -> Batch<Option<KeptValues>> {
    let permits = Arc::new(async_lock::Semaphore::new(SLOTS));
    let kept = kept_values(keep);
    let tasks: Vec<_> = keys
        .iter()
        .cloned()
        .map(|key| {
            let permits = Arc::clone(&permits);
            let kept = kept.clone();
            executor.spawn(async move {
                let _permit = permits.acquire().await;
                semaphore_job(key, kept.as_ref())
            })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await);
    }
    (out, kept)
}

fn throughput_tokio(c: &mut Criterion) {
    let keys = tarball_urls(JOBS);
    let rt = tokio_runtime();
    let mut group = c.benchmark_group("throughput_tokio");
    group.sample_size(10);
    group.throughput(criterion::Throughput::Elements(JOBS as u64));
    group.bench_function("fetch_scheduler", |b| {
        b.iter_custom(|iters| {
            time_batches(iters, || {
                rt.block_on(ours_batch(TokioRuntime::new(rt.handle().clone()), &keys))
            })
        })
    });
    for (name, keep) in [("semaphore_spawn", false), ("semaphore_spawn_kept", true)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                time_batches(iters, || rt.block_on(semaphore_batch_tokio(&keys, keep)))
            })
        });
    }
    group.finish();
    let ours = || {
        time_batches(1, || {
            rt.block_on(ours_batch(TokioRuntime::new(rt.handle().clone()), &keys))
        })
    };
    let semaphore = || time_batches(1, || rt.block_on(semaphore_batch_tokio(&keys, false)));
    let kept = || time_batches(1, || rt.block_on(semaphore_batch_tokio(&keys, true)));
    interleaved_batches(
        "throughput_tokio",
        &[
            ("fetch_scheduler", &ours),
            ("semaphore_spawn", &semaphore),
            ("semaphore_spawn_kept", &kept),
        ],
    );
}

fn throughput_smol(c: &mut Criterion) {
    let keys = tarball_urls(JOBS);
    let pool = SmolPool::new();
    let mut group = c.benchmark_group("throughput_smol");
    group.sample_size(10);
    group.throughput(criterion::Throughput::Elements(JOBS as u64));
    group.bench_function("fetch_scheduler", |b| {
        b.iter_custom(|iters| {
            time_batches(iters, || {
                futures_lite::future::block_on(ours_batch(pool.runtime(), &keys))
            })
        })
    });
    for (name, keep) in [("semaphore_spawn", false), ("semaphore_spawn_kept", true)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                time_batches(iters, || {
                    futures_lite::future::block_on(semaphore_batch_smol(
                        &pool.executor,
                        &keys,
                        keep,
                    ))
                })
            })
        });
    }
    group.finish();
    let ours = || {
        time_batches(1, || {
            futures_lite::future::block_on(ours_batch(pool.runtime(), &keys))
        })
    };
    let semaphore = || {
        time_batches(1, || {
            futures_lite::future::block_on(semaphore_batch_smol(&pool.executor, &keys, false))
        })
    };
    let kept = || {
        time_batches(1, || {
            futures_lite::future::block_on(semaphore_batch_smol(&pool.executor, &keys, true))
        })
    };
    interleaved_batches(
        "throughput_smol",
        &[
            ("fetch_scheduler", &ours),
            ("semaphore_spawn", &semaphore),
            ("semaphore_spawn_kept", &kept),
        ],
    );
}

// ---- realistic throughput ------------------------------------------------------------------------

/// Jobs per batch of the `throughput_realistic_*` groups: as many as the no-op groups.
const REALISTIC_JOBS: usize = JOBS;
/// Batches per function in the realistic groups' CPU measurement.
const CPU_BATCHES: usize = 3;

/// How long each key's fetch sleeps: a fixed, seeded draw shared by every contender. One in five
/// is a cache hit (no sleep); the rest are log-normal with a median of 2 ms and σ = 1, so a few
/// in 10 000 take 50 ms or more, as real downloads of small and large tarballs do.
fn realistic_delays(keys: &[String]) -> Arc<HashMap<String, Duration, Hasher>> {
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let delays = keys.iter().map(|key| {
        let delay = if rng.f64() < 0.2 {
            Duration::ZERO
        } else {
            // Box–Muller: a standard normal from two uniforms.
            let (u1, u2) = (1.0 - rng.f64(), rng.f64());
            let normal = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            Duration::from_secs_f64(0.002 * normal.exp())
        };
        (key.clone(), delay)
    });
    Arc::new(delays.collect())
}

/// Our scheduler with `SLOTS` slots whose fetch of a key sleeps that key's delay on `sleep`.
fn realistic_scheduler(
    runtime: impl Runtime,
    delays: &Arc<HashMap<String, Duration, Hasher>>,
    sleep: fn(Duration) -> BoxFuture<'static, ()>,
) -> ours::Sched {
    let delays = Arc::clone(delays);
    Scheduler::builder()
        .concurrency(SLOTS)
        .build(runtime, move |key: &String, _cx: JobContext| {
            let (delay, value) = (delays[key], value_of(key));
            async move {
                if !delay.is_zero() {
                    sleep(delay).await;
                }
                Ok(value)
            }
        })
        .expect("valid configuration")
}

/// One realistic batch through our scheduler, collected as `semaphore_spawn` collects its join
/// handles: a `get` per key, awaited in key order.
async fn ours_realistic(sched: ours::Sched, keys: &[String]) -> Batch<ours::Sched> {
    let waits: Vec<_> = keys
        .iter()
        .map(|key| (key, sched.get(key.clone())))
        .collect();
    let mut out = Vec::with_capacity(keys.len());
    for (key, wait) in waits {
        out.push((key.clone(), wait.await.expect("realistic jobs succeed")));
    }
    (out, sched)
}

/// The same batch as one `get_all`, collected in completion order: the consumer is woken once
/// per answer, where waiting in key order finds most answers already in.
async fn ours_realistic_get_all(sched: ours::Sched, keys: &[String]) -> Batch<ours::Sched> {
    let mut answers = sched.get_all(keys.iter().cloned());
    let mut out = Vec::with_capacity(keys.len());
    while let Some((key, result)) = answers.next().await {
        out.push((key, result.expect("realistic jobs succeed")));
    }
    drop(answers);
    (out, sched)
}

fn tokio_sleep(delay: Duration) -> BoxFuture<'static, ()> {
    Box::pin(tokio::time::sleep(delay))
}

fn smol_sleep(delay: Duration) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        smol::Timer::after(delay).await;
    })
}

/// One realistic batch, a tokio task per job behind a semaphore of `SLOTS` permits.
async fn semaphore_realistic_tokio(
    keys: &[String],
    delays: &Arc<HashMap<String, Duration, Hasher>>,
) -> Batch<()> {
    let permits = Arc::new(tokio::sync::Semaphore::new(SLOTS));
    let tasks: Vec<_> = keys
        .iter()
        .map(|key| {
            let (permits, delay, key) = (Arc::clone(&permits), delays[key], key.clone());
            tokio::spawn(async move {
                let _permit = permits.acquire().await.expect("open");
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let value = value_of(&key);
                (key, value)
            })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await.expect("no panic"));
    }
    (out, ())
}

/// One realistic batch, a smol task per job behind a semaphore of `SLOTS` permits.
async fn semaphore_realistic_smol(
    executor: &Executor<'static>,
    keys: &[String],
    delays: &Arc<HashMap<String, Duration, Hasher>>,
) -> Batch<()> {
    let permits = Arc::new(async_lock::Semaphore::new(SLOTS));
    let tasks: Vec<_> = keys
        .iter()
        .map(|key| {
            let (permits, delay, key) = (Arc::clone(&permits), delays[key], key.clone());
            executor.spawn(async move {
                let _permit = permits.acquire().await;
                if !delay.is_zero() {
                    smol::Timer::after(delay).await;
                }
                let value = value_of(&key);
                (key, value)
            })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await);
    }
    (out, ())
}

/// The CPU time this process has used: the nanosecond on-CPU times of its threads where the kernel
/// keeps them (`/proc/self/task/*/schedstat`), else user + system time in clock ticks (10 ms) from
/// `/proc/self/stat`, too coarse for a batch of 50 ms; `None` without either. The executors'
/// threads live through the whole run, so no thread's time is lost between two readings.
fn cpu_time() -> Option<Duration> {
    threads_cpu_time().or_else(process_cpu_ticks)
}

fn threads_cpu_time() -> Option<Duration> {
    let mut nanos = 0u64;
    let mut found = false;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        // The first field of a thread's schedstat is its time on a CPU, in nanoseconds. A thread
        // that ended since the directory was read has no file left and is skipped.
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        if let Some(Ok(n)) = text.split_whitespace().next().map(str::parse::<u64>) {
            nanos += n;
            found = true;
        }
    }
    found.then(|| Duration::from_nanos(nanos))
}

fn process_cpu_ticks() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at field 3; utime and stime
    // are fields 14 and 15, in clock ticks (100 per second on Linux).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Wall and CPU time per job of each function of a realistic group, `CPU_BATCHES` batches each,
/// the functions taking turns; printed and written to `target/realistic-<group>.json`.
fn realistic_cpu(group_name: &str, runs: &[BatchRun<'_>]) {
    if !benchmarking() {
        return;
    }
    let mut totals = vec![(Duration::ZERO, Duration::ZERO); runs.len()];
    for _ in 0..CPU_BATCHES {
        for (total, &(_, run)) in totals.iter_mut().zip(runs) {
            let Some(before) = cpu_time() else { return };
            total.0 += run();
            total.1 += cpu_time().unwrap_or(before).saturating_sub(before);
        }
    }
    let jobs = (CPU_BATCHES * REALISTIC_JOBS) as f64;
    let mut json = serde_json::Map::new();
    for (&(name, _), (wall, cpu)) in runs.iter().zip(&totals) {
        let (wall_ms, cpu_us) = (
            wall.as_secs_f64() * 1e3 / CPU_BATCHES as f64,
            cpu.as_secs_f64() * 1e6 / jobs,
        );
        println!("{group_name}/{name}: {wall_ms:.1} ms per batch, {cpu_us:.2} µs CPU per job");
        json.insert(
            name.to_string(),
            serde_json::json!({ "wall_ms_per_batch": wall_ms, "cpu_us_per_job": cpu_us }),
        );
    }
    let path = target_dir().join(format!("realistic-{group_name}.json"));
    let text = serde_json::to_string_pretty(&json).expect("json");
    if let Err(error) = std::fs::write(&path, text) {
        eprintln!("could not write {}: {error}", path.display());
    }
}

/// Times each of `runs` (one batch per iteration) in a criterion group of its own, then takes
/// turns for their wall and CPU time per job ([`realistic_cpu`]).
fn realistic_group(c: &mut Criterion, group_name: &str, runs: &[BatchRun<'_>]) {
    let mut group = c.benchmark_group(group_name);
    group.sample_size(10);
    group.throughput(criterion::Throughput::Elements(REALISTIC_JOBS as u64));
    for (name, run) in runs {
        group.bench_function(*name, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| run()).sum())
        });
    }
    group.finish();
    realistic_cpu(group_name, runs);
}

fn throughput_realistic_tokio(c: &mut Criterion) {
    let keys = tarball_urls(REALISTIC_JOBS);
    let delays = realistic_delays(&keys);
    let rt = tokio_runtime();
    let ours = || {
        time_batches(1, || {
            let sched =
                realistic_scheduler(TokioRuntime::new(rt.handle().clone()), &delays, tokio_sleep);
            rt.block_on(ours_realistic(sched, &keys))
        })
    };
    let get_all = || {
        time_batches(1, || {
            let sched =
                realistic_scheduler(TokioRuntime::new(rt.handle().clone()), &delays, tokio_sleep);
            rt.block_on(ours_realistic_get_all(sched, &keys))
        })
    };
    let semaphore = || time_batches(1, || rt.block_on(semaphore_realistic_tokio(&keys, &delays)));
    realistic_group(
        c,
        "throughput_realistic_tokio",
        &[
            ("fetch_scheduler", &ours),
            ("semaphore_spawn", &semaphore),
            ("fetch_scheduler_get_all", &get_all),
        ],
    );
}

fn throughput_realistic_smol(c: &mut Criterion) {
    let keys = tarball_urls(REALISTIC_JOBS);
    let delays = realistic_delays(&keys);
    let pool = SmolPool::new();
    let ours = || {
        time_batches(1, || {
            let sched = realistic_scheduler(pool.runtime(), &delays, smol_sleep);
            futures_lite::future::block_on(ours_realistic(sched, &keys))
        })
    };
    let get_all = || {
        time_batches(1, || {
            let sched = realistic_scheduler(pool.runtime(), &delays, smol_sleep);
            futures_lite::future::block_on(ours_realistic_get_all(sched, &keys))
        })
    };
    let semaphore = || {
        time_batches(1, || {
            futures_lite::future::block_on(semaphore_realistic_smol(&pool.executor, &keys, &delays))
        })
    };
    realistic_group(
        c,
        "throughput_realistic_smol",
        &[
            ("fetch_scheduler", &ours),
            ("semaphore_spawn", &semaphore),
            ("fetch_scheduler_get_all", &get_all),
        ],
    );
}

criterion_group!(
    benches,
    hit,
    join,
    promotion,
    throughput_tokio,
    throughput_smol,
    throughput_realistic_tokio,
    throughput_realistic_smol
);
criterion_main!(benches);
