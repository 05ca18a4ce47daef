//! `lockfetch demo`: the install simulation (see [`crate::sim`]) for every strategy, against the
//! embedded mock registry serving a generated lockfile, printed as a table with a headline and a
//! legend, or as JSON.
//!
//! With `--json` the report goes alone on stdout as
//! `{"packages","bytes","floor_ms","strategies":[{"name","wall_ms","bound_ms","requests","duplicate_requests","bytes","demand_wait_ms"}]}`
//! (each strategy also gets `"wall_ms_rounds"`, every run's wall time, with `--rounds` above 1)
//! and the human table goes to stderr; without it the table goes to stdout. `--rounds N` runs each
//! strategy `N` times in turns and reports its median run (see [`rounds`]). `--plot FILE.svg`
//! draws every strategy's share of packages ready over time (see [`crate::plot`]); `--trace
//! FILE.json` writes the `scheduler` strategy's downloads as a Chrome trace (see
//! [`crate::trace`]).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::generate::{GenConfig, Universe};
use crate::output::{check_writable, write_whole};
use crate::sim::{self, SimConfig, SimReport, Strategy};

pub mod rounds;
mod table;

pub use table::{LEGEND, headline, render_table};

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
    /// Discoveries in flight at once during resolution (pnpm's `networkConcurrency`, 64 since
    /// pnpm/pnpm#13492; 16, its earlier default, is the "slow metadata" variant).
    #[arg(long, default_value_t = 64)]
    pub resolve_concurrency: usize,
    /// Delay before a finished download shows in the store index, in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub index_lag_ms: u64,
    /// Seed of the generated lockfile.
    #[arg(long, default_value_t = 12241)]
    pub seed: u64,
    /// Run every strategy this many times, taking turns, and report each one's median run.
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
    /// Run only these strategies (repeatable): naive, barrier, fifo, scheduler.
    #[arg(long = "strategy", value_parser = ["naive", "barrier", "fifo", "scheduler"])]
    pub strategies: Vec<String>,
    /// Print one JSON object on stdout (the table goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Draw every strategy's share of packages ready over time into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Write the `scheduler` strategy's downloads as Chrome trace-event JSON into this file
    /// (open it in Perfetto or in the Performance panel of Chrome's DevTools).
    #[arg(long, value_name = "FILE.json")]
    pub trace: Option<PathBuf>,
}

impl Default for DemoArgs {
    fn default() -> Self {
        DemoArgs {
            packages: 1355,
            rtt_ms: 50,
            bandwidth_mbit: 200.0,
            concurrency: 64,
            reserved_for_demand: 8,
            resolve_concurrency: 64,
            index_lag_ms: 500,
            seed: 12241,
            rounds: 1,
            strategies: Vec::new(),
            json: false,
            plot: None,
            trace: None,
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
            trace: self.trace.is_some(),
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
    if !(args.bandwidth_mbit.is_finite() && args.bandwidth_mbit > 0.0) {
        return Err("--bandwidth-mbit must be a positive number".into());
    }
    if args.resolve_concurrency == 0 {
        return Err("--resolve-concurrency must be at least 1".into());
    }
    if args.rounds == 0 {
        return Err("--rounds must be at least 1".into());
    }
    if args.trace.is_some() && !args.strategies().contains(&Strategy::Scheduler) {
        return Err("--trace records the scheduler strategy's downloads: run it too".into());
    }
    if let Some(path) = &args.plot {
        check_writable(path, "--plot")?;
    }
    if let Some(path) = &args.trace {
        check_writable(path, "--trace")?;
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
    let strategies = args.strategies();
    let mut runs = vec![Vec::with_capacity(args.rounds); strategies.len()];
    for round in 0..args.rounds {
        for i in rounds::turn_order(strategies.len(), round) {
            let strategy = strategies[i];
            if args.rounds > 1 {
                eprintln!(
                    "running {} (round {} of {}) ...",
                    strategy.name(),
                    round + 1,
                    args.rounds
                );
            } else {
                eprintln!("running {} ...", strategy.name());
            }
            runs[i].push(sim::run_strategy(&universe, &config, strategy)?);
        }
    }
    report
        .strategies
        .extend(runs.into_iter().filter_map(rounds::median_run));
    Ok(report)
}

/// `lockfetch demo`: run, print, write the plot and the trace if asked, and return the exit code
/// (0 on success).
pub fn run(args: &DemoArgs) -> i32 {
    let report = match simulate(args) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: demo failed: {e}");
            return 1;
        }
    };
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
    match write_outputs(&report, args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// Writes `--plot` and `--trace`, if given.
fn write_outputs(report: &DemoReport, args: &DemoArgs) -> Result<(), String> {
    if let Some(path) = &args.plot {
        let svg = crate::plot::render(report, &plot_title(report, args))?;
        write_whole(path, svg.as_bytes())?;
        eprintln!("wrote the plot to {}", path.display());
    }
    if let Some(path) = &args.trace {
        let trace = report
            .strategies
            .iter()
            .find_map(|s| s.trace.as_ref())
            .ok_or("the scheduler strategy recorded no trace")?;
        trace.write(path)?;
        eprintln!(
            "wrote the trace of the scheduler's {} downloads ({} promotions) to {}",
            trace.attempts(),
            trace.promotions(),
            path.display()
        );
    }
    Ok(())
}

/// The plot's title: what was simulated.
fn plot_title(report: &DemoReport, args: &DemoArgs) -> String {
    format!(
        "lockfetch demo: {} packages ({:.1} MB needed), {} ms RTT, {} Mbit/s, resolution {} at a time",
        report.packages,
        report.bytes as f64 / 1e6,
        args.rtt_ms,
        args.bandwidth_mbit,
        args.resolve_concurrency
    )
}
