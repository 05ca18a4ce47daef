//! `lockfetch demo`: the install simulation (see [`crate::sim`]) for every strategy, against the
//! embedded mock registry serving a generated lockfile, printed as a table or as JSON.
//!
//! With `--json` the report goes alone on stdout as
//! `{"packages","bytes","floor_ms","strategies":[{"name","wall_ms","requests","duplicate_requests","bytes","demand_wait_ms"}]}`
//! and the human table goes to stderr; without it the table goes to stdout.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::generate::{GenConfig, Universe};
use crate::sim::{self, SimConfig, SimReport, Strategy};

/// The demo's report (serialized as the `--json` output and `target/install-sim.json`).
pub type DemoReport = SimReport;

/// Options of `lockfetch demo`.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct DemoArgs {
    /// Packages in the generated lockfile (speculative ones included).
    #[arg(long, default_value_t = 1355)]
    pub packages: usize,
    /// Round-trip time of the simulated link, in milliseconds.
    #[arg(long, default_value_t = 50)]
    pub rtt_ms: u64,
    /// Bandwidth shared by every download, in Mbit/s.
    #[arg(long, default_value_t = 200.0)]
    pub bandwidth_mbit: f64,
    /// Download slots.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Slots reserved for demand (the `scheduler` strategy).
    #[arg(long, default_value_t = 8)]
    pub reserved_for_demand: usize,
    /// Discoveries in flight at once during resolution.
    #[arg(long, default_value_t = 16)]
    pub resolve_concurrency: usize,
    /// Delay before a finished download shows in the store index, in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub index_lag_ms: u64,
    /// Seed of the generated lockfile.
    #[arg(long, default_value_t = 12241)]
    pub seed: u64,
    /// Run only these strategies (repeatable): naive, barrier, fifo, scheduler.
    #[arg(long = "strategy", value_parser = ["naive", "barrier", "fifo", "scheduler"])]
    pub strategies: Vec<String>,
    /// Print one JSON object on stdout (the table goes to stderr).
    #[arg(long)]
    pub json: bool,
}

impl Default for DemoArgs {
    fn default() -> Self {
        DemoArgs {
            packages: 1355,
            rtt_ms: 50,
            bandwidth_mbit: 200.0,
            concurrency: 64,
            reserved_for_demand: 8,
            resolve_concurrency: 16,
            index_lag_ms: 500,
            seed: 12241,
            strategies: Vec::new(),
            json: false,
        }
    }
}

impl DemoArgs {
    /// The simulation parameters these options describe.
    pub fn sim_config(&self) -> SimConfig {
        SimConfig {
            rtt: Duration::from_millis(self.rtt_ms),
            bandwidth_mbit: self.bandwidth_mbit,
            concurrency: self.concurrency,
            reserved_for_demand: self.reserved_for_demand,
            resolve_concurrency: self.resolve_concurrency,
            index_lag: Duration::from_millis(self.index_lag_ms),
            ..SimConfig::default()
        }
    }

    /// The generator parameters these options describe.
    pub fn gen_config(&self) -> GenConfig {
        GenConfig {
            packages: self.packages,
            seed: self.seed,
            ..GenConfig::default()
        }
    }

    /// The strategies to run, in report order.
    pub fn strategies(&self) -> Vec<Strategy> {
        Strategy::ALL
            .into_iter()
            .filter(|s| self.strategies.is_empty() || self.strategies.iter().any(|n| n == s.name()))
            .collect()
    }
}

/// Generate the universe and run the simulation; progress lines go to stderr.
pub fn simulate(args: &DemoArgs) -> Result<DemoReport, String> {
    if args.packages == 0 {
        return Err("--packages must be at least 1".into());
    }
    if args.concurrency == 0 || args.reserved_for_demand >= args.concurrency {
        return Err("--concurrency must be at least 1 and above --reserved-for-demand".into());
    }
    if args.bandwidth_mbit.is_nan() || args.bandwidth_mbit <= 0.0 {
        return Err("--bandwidth-mbit must be positive".into());
    }
    let started = Instant::now();
    let universe = Arc::new(Universe::generate(&args.gen_config()));
    eprintln!(
        "generated {} packages ({:.1} MB, {} needed) in {} ms",
        universe.packages.len(),
        universe.total_bytes() as f64 / 1e6,
        universe.needed_count(),
        started.elapsed().as_millis()
    );
    let config = args.sim_config();
    let mut report = sim::run(&universe, &config, &[])?;
    for strategy in args.strategies() {
        eprintln!("running {} ...", strategy.name());
        report
            .strategies
            .push(sim::run_strategy(&universe, &config, strategy)?);
    }
    Ok(report)
}

/// `lockfetch demo`: run, print, and return the exit code (0 on success).
pub fn run(args: &DemoArgs) -> i32 {
    match simulate(args) {
        Ok(report) => {
            let table = render_table(&report, args);
            if args.json {
                eprint!("{table}");
                match serde_json::to_string(&report) {
                    Ok(json) => println!("{json}"),
                    Err(e) => {
                        eprintln!("error: cannot serialize the report: {e}");
                        return 1;
                    }
                }
            } else {
                print!("{table}");
            }
            let _ = std::io::stdout().flush();
            0
        }
        Err(e) => {
            eprintln!("error: demo failed: {e}");
            1
        }
    }
}

/// The human table of `report`.
pub fn render_table(report: &DemoReport, args: &DemoArgs) -> String {
    let mut out = String::new();
    let resolve_ms = report
        .strategies
        .iter()
        .map(|s| s.resolve_ms)
        .fold(0.0, f64::max);
    let _ = writeln!(
        out,
        "install simulation: {} packages, {:.1} MB needed, {} ms RTT, {} Mbit/s, {} slots",
        report.packages,
        report.bytes as f64 / 1e6,
        args.rtt_ms,
        args.bandwidth_mbit,
        args.concurrency
    );
    // No strategy can end before resolution does (the install starts there), nor before the needed
    // bytes have crossed the link, nor before the last packages discovered can be downloaded and
    // extracted (each run's own bound: discovery times vary a little from run to run).
    let _ = writeln!(
        out,
        "floor {:.0} ms (needed bytes / bandwidth + 1 RTT); resolution alone takes {:.0} ms\n\
         bound: no strategy could end sooner in that run (resolution; floor; each package \
         discovered too late to be warm: one RTT, full bandwidth, then its extraction)",
        report.floor_ms, resolve_ms
    );
    let _ = writeln!(
        out,
        "{:<10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>9} {:>15} {:>6}",
        "strategy",
        "wall ms",
        "x floor",
        "bound ms",
        "x bound",
        "requests",
        "duplicates",
        "MB sent",
        "demand wait ms",
        "cold"
    );
    for s in &report.strategies {
        let _ = writeln!(
            out,
            "{:<10} {:>9.0} {:>9.2} {:>9.0} {:>9.3} {:>9} {:>10} {:>9.1} {:>15.0} {:>6}",
            s.name,
            s.wall_ms,
            s.wall_ms / report.floor_ms,
            s.bound_ms,
            s.wall_ms / s.bound_ms.max(f64::MIN_POSITIVE),
            s.requests,
            s.duplicate_requests,
            s.bytes as f64 / 1e6,
            s.demand_wait_ms,
            s.cold
        );
    }
    out
}
