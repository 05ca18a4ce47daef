//! The install simulation of DESIGN.md §6 at pacquet scale — 1355 packages (~90 MB), 50 ms RTT,
//! 200 Mbit/s shared, 64 slots — for the four strategies `naive`, `barrier`, `fifo`, `scheduler`,
//! through lockfetch's demo (the same code as `lockfetch demo --json`). Prints the demo's table and
//! writes its JSON to `target/install-sim.json`.
//!
//! It then runs the same model with resolution at concurrency 64 (resolution no longer outlasts the
//! transfer, so downloads are the bottleneck) and writes `target/install-sim-resolve64.json`. Each
//! strategy's lower bound for its run (see `lockfetch::sim::StrategyReport::bound_ms`), which the
//! demo JSON does not carry, goes to `target/install-sim-bounds.json`.
//!
//! Not a criterion benchmark: one run takes seconds of simulated network time per strategy, and
//! its figures (wall time against the floor, duplicate requests) are counted, not sampled.
//! Skipped when `cargo bench` is given a filter that does not match `install_sim`, and outside
//! `cargo bench` (`cargo test --all-targets` runs bench targets without `--bench`).

use fetch_scheduler_benches::target_dir;
use lockfetch::demo::{DemoArgs, DemoReport, render_table, simulate};

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
    let runs = [
        ("spec_defaults", "install-sim.json", DemoArgs::default()),
        (
            "resolve64",
            "install-sim-resolve64.json",
            DemoArgs {
                resolve_concurrency: 64,
                ..DemoArgs::default()
            },
        ),
    ];
    let mut bounds = serde_json::Map::new();
    for (name, file, args) in runs {
        let report = run(&args);
        write(
            file,
            &serde_json::to_value(&report).expect("the report serializes"),
        );
        bounds.insert(name.to_string(), bounds_of(&report));
    }
    write(
        "install-sim-bounds.json",
        &serde_json::Value::Object(bounds),
    );
}

fn run(args: &DemoArgs) -> DemoReport {
    match simulate(args) {
        Ok(report) => {
            print!("{}", render_table(&report, args));
            report
        }
        Err(error) => {
            eprintln!("install_sim: the simulation failed: {error}");
            std::process::exit(1);
        }
    }
}

/// `{"strategies": {name: {"resolve_ms", "bound_ms"}}}` of one run.
fn bounds_of(report: &DemoReport) -> serde_json::Value {
    let strategies: serde_json::Map<String, serde_json::Value> = report
        .strategies
        .iter()
        .map(|s| {
            let entry = serde_json::json!({"resolve_ms": s.resolve_ms, "bound_ms": s.bound_ms});
            (s.name.clone(), entry)
        })
        .collect();
    serde_json::json!({ "strategies": strategies })
}

fn write(file: &str, value: &serde_json::Value) {
    let path = target_dir().join(file);
    let json = serde_json::to_string_pretty(value).expect("the report serializes");
    match std::fs::write(&path, json) {
        Ok(()) => println!("wrote {}", path.display()),
        Err(error) => {
            eprintln!("install_sim: cannot write {}: {error}", path.display());
            std::process::exit(1);
        }
    }
}
