//! The install simulation (DESIGN.md §6), shared by `lockfetch demo` and the `install_sim` bench.
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
//!    most `resolve_concurrency` (16) at a time, each discovery costing one RTT (a timer: metadata
//!    is not served). Each package is handed to the strategy's prefetch as it is discovered,
//!    speculative ones included (they are optional dependencies of needed packages).
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
//! `floor_ms` is the needed bytes at the link's bandwidth plus one RTT; `resolve_ms` (not in the
//! JSON) is when resolution ended, a bound no strategy can beat since the install starts there;
//! `bound_ms` (not in the JSON either) adds what the discovery times impose: no package can be
//! downloaded before it is discovered, nor extracted before the install starts.
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
mod store;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use event_listener::Event;
use smol::{Executor, Timer, future};

use crate::generate::Universe;
use crate::http::HttpClient;
use crate::registry::{MockRegistry, Shaping, mbit_to_bytes};

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
    /// Discoveries in flight at once.
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
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            rtt: Duration::from_millis(50),
            bandwidth_mbit: 200.0,
            concurrency: 64,
            reserved_for_demand: 8,
            resolve_concurrency: 16,
            index_lag: Duration::from_millis(500),
            workers: 2,
            extract_bytes_per_sec: 50_000_000,
            extract_overhead: Duration::from_micros(100),
            size_hints: false,
            timeout: Duration::from_secs(300),
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
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StrategyReport {
    /// Strategy name.
    pub name: String,
    /// From the start of resolution to the end of the install.
    pub wall_ms: f64,
    /// Requests the registry received by the end of the install.
    pub requests: u64,
    /// Requests for a path requested before (server-side count).
    pub duplicate_requests: u64,
    /// Body bytes the registry sent by the end of the install.
    pub bytes: u64,
    /// From the start of the install phase to the arrival of the last cold package.
    pub demand_wait_ms: f64,
    /// When resolution ended, from its start (a lower bound of `wall_ms`; not serialized).
    #[serde(skip)]
    pub resolve_ms: f64,
    /// Cold packages at install start (not serialized).
    #[serde(skip)]
    pub cold: usize,
    /// A lower bound on any strategy's wall time in this run: the largest of `floor_ms`,
    /// `resolve_ms`, and the bound from when each needed package was discovered (its fastest
    /// possible download, then its extraction; see `sim/bound.rs`). Not serialized.
    #[serde(skip)]
    pub bound_ms: f64,
}

/// The result of a simulation run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SimReport {
    /// Packages in the lockfile, speculative ones included.
    pub packages: usize,
    /// Bytes of the needed tarballs.
    pub bytes: u64,
    /// Needed bytes at the link's bandwidth plus one RTT.
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
        discovered: (0..universe.packages.len())
            .map(|_| std::sync::atomic::AtomicU64::new(0))
            .collect(),
        start: Instant::now(),
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
    let resolve_ms = ms(resolve_end);
    let discovery_ms = bound::discovery_bound(&env, resolve_end).map_or(0.0, ms);
    let floor = floor_ms(universe.needed_bytes(), config);
    let report = StrategyReport {
        name: strategy.name().to_string(),
        wall_ms: ms(timeline.end.duration_since(env.start)),
        requests: stats.requests,
        duplicate_requests: stats.duplicate_requests,
        bytes: stats.bytes_sent,
        demand_wait_ms: ms(timeline.demand_wait),
        resolve_ms,
        cold: env.cold.load(Ordering::Relaxed),
        bound_ms: floor.max(resolve_ms).max(discovery_ms),
    };
    drop(env);
    smol::block_on(ex.run(Timer::after(Duration::from_millis(5))));
    Ok(report)
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}
