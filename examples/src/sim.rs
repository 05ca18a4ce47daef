//! The install simulation, shared by `lockfetch demo` and the `install_sim` bench.
//!
//! # The model
//!
//! A generated [`Universe`] (default 1355 packages, ~90 MB, ~15 % speculative) is served by the
//! [`MockRegistry`] on loopback, shaped like a WAN link (default 50 ms RTT, also before a new
//! connection's first request, and 200 Mbit/s shared by every response). Every download is a
//! real HTTP/1.1 `GET` through [`crate::http::HttpClient`]; the counts of requests, duplicates and
//! bytes come from the server.
//!
//! 1. **Resolution** discovers packages breadth-first from the importer's direct dependencies, at
//!    most `resolve_concurrency` at a time, each discovery costing one RTT (a timer: metadata is
//!    not served). The default, 64, is pnpm's `networkConcurrency` since pnpm/pnpm#13492; 16 (its
//!    earlier default) is the "slow metadata" variant, where resolution outlasts the transfer.
//!    Each package is handed to the strategy's prefetch as it is discovered, speculative ones
//!    included (they are optional dependencies of needed packages).
//! 2. **Store index.** A download that finishes writes its index row, visible `index_lag` later
//!    (the lag behind pnpm/pnpm#12241).
//! 3. **Install** starts when resolution ends: the needed packages whose row is visible are warm
//!    and free; the cold ones are demanded, largest first (pacquet's order). Each cold package,
//!    once its bytes are there, costs `extract_overhead + size / extract_bytes_per_sec` on one of
//!    `workers` (2) extraction threads, in completion order. The install ends when the last cold
//!    package is extracted: that is `wall_ms`, measured from the start of resolution.
//!    `demand_wait_ms` runs from the start of the install phase to the arrival of the last cold
//!    package's bytes.
//!
//! The strategies differ only in how they download:
//!
//! - [`Strategy::Naive`] — pnpm/pnpm#12241: detached prefetches; the cold batch downloads every
//!   cold package again, whether or not it is in flight (duplicates, counted by the server);
//! - [`Strategy::Barrier`] — wait for every prefetch (speculative ones too), then partition and use
//!   the prefetch results for the cold packages;
//! - [`Strategy::Fifo`] — pacquet after pnpm/pnpm#12243: an in-flight map and one FIFO pool, no
//!   promotion;
//! - [`Strategy::Scheduler`] — `fetch-scheduler` on smol: `prefetch` on discovery, `get_all` for the
//!   cold batch, `reserved_for_demand` slots, `close()` at the end.
//!
//! # What a run is compared with
//!
//! `floor_ms` is the transfer alone: the needed bytes at the link's bandwidth plus one RTT.
//! `bound_ms` is what that run could reach at best, whatever the strategy: no package can start
//! before the resolver discovers it nor arrive faster than the link allows, and a package that
//! cannot be warm is extracted after it arrives (see `sim/bound.rs`). Each strategy's run has its
//! own, since discovery times vary a little from run to run; it is the figure to compare a wall
//! time with.
//!
//! The extraction work is modelled by the worker threads sleeping, so that the simulated CPUs do
//! not steal the cores of the network side on a small machine.

mod barrier;
mod bound;
mod env;
mod fifo;
mod install;
mod naive;
mod resolve;
mod scheduler;
mod semaphore;
mod stamps;
mod store;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use event_listener::Event;
use smol::{Executor, Timer, future};

use crate::generate::Universe;
use crate::http::HttpClient;
use crate::registry::{MockRegistry, Shaping, mbit_to_bytes};
use crate::trace::Trace;

pub(crate) use env::Env;

/// Parameters of the simulation (the universe is separate).
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Round-trip time: latency of every response, of a new connection, and of one discovery.
    pub rtt: Duration,
    /// Bandwidth shared by every download, in megabits (10⁶ bits) per second.
    pub bandwidth_mbit: f64,
    /// Download slots (the scheduler's `concurrency`, the other strategies' pool size).
    pub concurrency: usize,
    /// Slots prefetches can never take (the `scheduler` strategy only).
    pub reserved_for_demand: usize,
    /// Discoveries in flight at once (pnpm's `networkConcurrency`, 64 since pnpm/pnpm#13492).
    pub resolve_concurrency: usize,
    /// Delay between a download finishing and its store-index row becoming visible.
    pub index_lag: Duration,
    /// Extraction threads of the install phase.
    pub workers: usize,
    /// Extraction speed of one worker, bytes per second.
    pub extract_bytes_per_sec: u64,
    /// Fixed extraction cost per package.
    pub extract_overhead: Duration,
    /// The `scheduler` strategy prefetches with the tarball size as priority hint (largest first
    /// within a class, as pacquet orders tarballs).
    pub size_hints: bool,
    /// A strategy still running after this long fails the run.
    pub timeout: Duration,
    /// Record a [`Trace`] of the `scheduler` strategy's downloads (its events).
    pub trace: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            rtt: Duration::from_millis(50),
            bandwidth_mbit: 200.0,
            concurrency: 64,
            reserved_for_demand: 8,
            resolve_concurrency: 64,
            index_lag: Duration::from_millis(500),
            workers: 2,
            extract_bytes_per_sec: 50_000_000,
            extract_overhead: Duration::from_micros(100),
            size_hints: false,
            timeout: Duration::from_secs(300),
            trace: false,
        }
    }
}

/// A download strategy of the install simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Detached prefetches, cold batch blind to work in flight (pnpm/pnpm#12241).
    Naive,
    /// Wait for every prefetch, then the cold batch.
    Barrier,
    /// In-flight map and one FIFO pool, no promotion (pacquet after pnpm/pnpm#12243).
    Fifo,
    /// `fetch-scheduler`.
    Scheduler,
}

impl Strategy {
    /// Every strategy, in report order.
    pub const ALL: [Strategy; 4] = [
        Strategy::Naive,
        Strategy::Barrier,
        Strategy::Fifo,
        Strategy::Scheduler,
    ];

    /// The name used in reports: `naive`, `barrier`, `fifo`, `scheduler`.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Naive => "naive",
            Strategy::Barrier => "barrier",
            Strategy::Fifo => "fifo",
            Strategy::Scheduler => "scheduler",
        }
    }

    /// The strategy called `name`, if any.
    pub fn from_name(name: &str) -> Option<Strategy> {
        Strategy::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// One strategy's result.
///
/// Serialized (the demo's `--json`) as `{"name","wall_ms","bound_ms","requests",
/// "duplicate_requests","bytes","demand_wait_ms"}`, plus `"wall_ms_rounds"` after several runs;
/// the other fields feed the table, the plot and the trace.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StrategyReport {
    /// Strategy name.
    pub name: String,
    /// From the start of resolution to the end of the install.
    pub wall_ms: f64,
    /// What this run could reach at best: no needed package downloaded before it was discovered
    /// nor faster than the link allows, the extraction after it (see the module docs).
    pub bound_ms: f64,
    /// Requests the registry received by the end of the install.
    pub requests: u64,
    /// Requests for a path requested before (server-side count).
    pub duplicate_requests: u64,
    /// Body bytes the registry sent by the end of the install.
    pub bytes: u64,
    /// From the start of the install phase to the arrival of the last cold package.
    pub demand_wait_ms: f64,
    /// Every run's wall time, in run order, when the strategy ran more than once (the demo's
    /// `--rounds`); this report is then its run of median wall time. Empty after a single run, and
    /// then not serialized.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub wall_ms_rounds: Vec<f64>,
    /// When resolution ended, from its start (not serialized).
    #[serde(skip)]
    pub resolve_ms: f64,
    /// Cold packages at install start (not serialized).
    #[serde(skip)]
    pub cold: usize,
    /// When each needed package was ready, sorted, in ms from the start of resolution: a warm one
    /// when its download finished, a cold one when its extraction did (not serialized).
    #[serde(skip)]
    pub ready_ms: Vec<f64>,
    /// The scheduler's events during the run, if [`SimConfig::trace`] asked for them and the
    /// strategy is `scheduler` (not serialized).
    #[serde(skip)]
    pub trace: Option<Trace>,
}

/// The result of a simulation run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SimReport {
    /// Packages in the lockfile, speculative ones included.
    pub packages: usize,
    /// Bytes of the needed tarballs.
    pub bytes: u64,
    /// The transfer alone: needed bytes at the link's bandwidth plus one RTT.
    pub floor_ms: f64,
    /// One report per strategy run, in order.
    pub strategies: Vec<StrategyReport>,
}

/// The floor of an install: `needed_bytes` at `bandwidth_mbit`, plus one RTT, in milliseconds.
pub fn floor_ms(needed_bytes: u64, config: &SimConfig) -> f64 {
    let bandwidth = mbit_to_bytes(config.bandwidth_mbit) as f64;
    needed_bytes as f64 / bandwidth * 1000.0 + config.rtt.as_secs_f64() * 1000.0
}

/// Run `strategies` one after the other on `universe`, each against a fresh mock registry.
pub fn run(
    universe: &Arc<Universe>,
    config: &SimConfig,
    strategies: &[Strategy],
) -> Result<SimReport, String> {
    let mut reports = Vec::with_capacity(strategies.len());
    for &strategy in strategies {
        reports.push(run_strategy(universe, config, strategy)?);
    }
    Ok(SimReport {
        packages: universe.packages.len(),
        bytes: universe.needed_bytes(),
        floor_ms: floor_ms(universe.needed_bytes(), config),
        strategies: reports,
    })
}

/// Run one strategy against a fresh mock registry serving `universe`.
pub fn run_strategy(
    universe: &Arc<Universe>,
    config: &SimConfig,
    strategy: Strategy,
) -> Result<StrategyReport, String> {
    let registry =
        MockRegistry::for_universe(universe, Shaping::wan(config.rtt, config.bandwidth_mbit))
            .map_err(|e| format!("mock registry: {e}"))?;
    let ex = Arc::new(Executor::new());
    let client = HttpClient::builder()
        .executor(ex.clone())
        .max_idle_per_origin(config.concurrency * 2)
        .build();
    let start = Instant::now();
    let env = Arc::new(Env {
        universe: universe.clone(),
        base: registry.url(),
        client,
        config: config.clone(),
        store: store::StoreIndex::new(universe.packages.len(), config.index_lag),
        ex: Arc::downgrade(&ex),
        tasks: AtomicUsize::new(0),
        idle: Event::new(),
        resolved: std::sync::OnceLock::new(),
        cold: AtomicUsize::new(0),
        discovered: stamps::Stamps::new(start, universe.packages.len()),
        downloaded: stamps::Stamps::new(start, universe.packages.len()),
        trace: std::sync::Mutex::new(None),
        start,
    });
    let run = {
        let env = env.clone();
        async move {
            match strategy {
                Strategy::Naive => naive::run(env).await,
                Strategy::Barrier => barrier::run(env).await,
                Strategy::Fifo => fifo::run(env).await,
                Strategy::Scheduler => scheduler::run(env).await,
            }
        }
    };
    let timeout = config.timeout;
    let result = smol::block_on(ex.run(future::or(run, async move {
        Timer::after(timeout).await;
        Err(format!("{} timed out after {timeout:?}", strategy.name()))
    })));
    let stats = registry.stats();
    // Tear down: the registry closes every connection, so what still runs fails fast; then let
    // the executor finish those tasks before dropping it.
    drop(registry);
    smol::block_on(ex.run(future::or(env.quiet(), async {
        Timer::after(Duration::from_secs(10)).await;
    })));
    let timeline = result?;
    let resolve_end = env
        .resolved
        .get()
        .map_or(Duration::ZERO, |t| t.duration_since(env.start));
    let bound =
        bound::discovery_bound(&env, resolve_end).map_or(resolve_end, |b| b.max(resolve_end));
    let mut ready_ms = ready_times(&env, &timeline);
    ready_ms.sort_by(f64::total_cmp);
    let trace = env.trace.lock().unwrap_or_else(|e| e.into_inner()).take();
    let report = StrategyReport {
        name: strategy.name().to_string(),
        wall_ms: ms(timeline.end.duration_since(env.start)),
        bound_ms: ms(bound),
        requests: stats.requests,
        duplicate_requests: stats.duplicate_requests,
        bytes: stats.bytes_sent,
        demand_wait_ms: ms(timeline.demand_wait),
        wall_ms_rounds: Vec::new(),
        resolve_ms: ms(resolve_end),
        cold: env.cold.load(Ordering::Relaxed),
        ready_ms,
        trace,
    };
    drop(env);
    smol::block_on(ex.run(Timer::after(Duration::from_millis(5))));
    Ok(report)
}

/// When each needed package was ready, in ms from the start: extracted if it was cold, else
/// downloaded (a warm package was downloaded before the install began).
fn ready_times(env: &Env, timeline: &install::Timeline) -> Vec<f64> {
    let mut extracted = vec![None; env.universe.packages.len()];
    for &(package, at) in &timeline.extracted {
        extracted[package] = Some(at.duration_since(env.start));
    }
    env.universe
        .packages
        .iter()
        .enumerate()
        .filter(|(_, p)| p.needed)
        .filter_map(|(i, _)| extracted[i].or_else(|| env.downloaded.get(i)))
        .map(ms)
        .collect()
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}
