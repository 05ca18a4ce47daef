//! The install simulation of DESIGN.md §6 at pacquet scale — 1355 packages (~90 MB), 50 ms RTT,
//! 200 Mbit/s shared, 64 slots — for the four strategies `naive`, `barrier`, `fifo`, `scheduler`,
//! through lockfetch's demo (the same code as `lockfetch demo --json`). Prints the demo's table and
//! writes its JSON to `target/install-sim.json`.
//!
//! Not a criterion benchmark: one run takes seconds of simulated network time per strategy, and
//! its figures (wall time against the floor, duplicate requests) are counted, not sampled.
//! Skipped when `cargo bench` is given a filter that does not match `install_sim`, and outside
//! `cargo bench` (`cargo test --all-targets` runs bench targets without `--bench`).

use fetch_scheduler_benches::target_dir;
use lockfetch::demo::{DemoArgs, render_table, simulate};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|arg| arg == "--bench") {
        // `cargo test --all-targets` runs bench targets without `--bench`: nothing to check here.
        println!("install_sim: skipped (run it with `cargo bench`)");
        return;
    }
    let filters: Vec<&String> = args.iter().filter(|arg| !arg.starts_with('-')).collect();
    if !filters.is_empty() && !filters.iter().any(|f| "install_sim".contains(f.as_str())) {
        return;
    }
    let args = DemoArgs::default();
    let report = match simulate(&args) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("install_sim: the simulation failed: {error}");
            std::process::exit(1);
        }
    };
    print!("{}", render_table(&report, &args));
    let path = target_dir().join("install-sim.json");
    let json = serde_json::to_string_pretty(&report).expect("the report serializes");
    match std::fs::write(&path, json) {
        Ok(()) => println!("wrote {}", path.display()),
        Err(error) => {
            eprintln!("install_sim: cannot write {}: {error}", path.display());
            std::process::exit(1);
        }
    }
}
