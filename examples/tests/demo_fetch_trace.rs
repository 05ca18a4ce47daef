//! `lockfetch fetch --trace F.json` against the mock registry on loopback, run as a child process
//! with a deadline: the trace parses, has one span per download on at most `--concurrency` slot
//! tracks, and marks the promotions of the direct dependencies demanded while still queued.

use std::process::{Command, Stdio};

mod common;
mod trace_format;

use common::run_with_deadline;
use lockfetch::generate::{GenConfig, Universe};
use lockfetch::registry::{MockRegistry, Shaping};
use serde_json::Value;

#[test]
fn fetch_writes_a_trace_of_its_downloads() {
    let universe = Universe::generate(&GenConfig {
        packages: 40,
        total_bytes: Some(40 * 8_000),
        ..GenConfig::default()
    });
    let registry = MockRegistry::for_universe(&universe, Shaping::none()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lockfile = dir.path().join("pnpm-lock.yaml");
    std::fs::write(&lockfile, universe.lockfile()).unwrap();
    let (cache, trace_path) = (dir.path().join("cache"), dir.path().join("trace.json"));

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lockfetch"));
    cmd.args([
        "fetch",
        "--json",
        "--all-platforms",
        "--concurrency",
        "2",
        "--registry",
    ])
    .arg(registry.url())
    .arg("--lockfile")
    .arg(&lockfile)
    .arg("--cache-dir")
    .arg(&cache)
    .arg("--trace")
    .arg(&trace_path)
    .current_dir(dir.path())
    // Nothing from the real environment or machine: an `npm_config_proxy` there (set on many
    // company machines and CI runners) would send these loopback downloads through that proxy.
    .env_clear()
    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
    .env("HOME", dir.path())
    .env("npm_config_globalconfig", dir.path().join("global-npmrc"))
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let run = run_with_deadline(cmd);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let report: Value = serde_json::from_str(run.stdout.trim()).expect("one JSON object");
    let fetched = report["fetched"].as_u64().unwrap();
    assert_eq!(fetched, 40, "{report}");

    let trace: Value =
        serde_json::from_str(&std::fs::read_to_string(&trace_path).expect("trace written"))
            .expect("the trace is JSON");
    trace_format::check_trace_event_format(&trace);
    let events = trace["traceEvents"].as_array().expect("traceEvents");
    let spans: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    assert_eq!(spans.len() as u64, fetched, "one span per download");
    assert!(
        spans
            .iter()
            .all(|s| (1..=2).contains(&s["tid"].as_u64().unwrap())),
        "two slots, two tracks"
    );
    let keys: Vec<String> = universe.packages.iter().map(|p| p.key()).collect();
    assert!(
        spans
            .iter()
            .all(|s| keys.iter().any(|k| s["name"] == k.as_str())),
        "spans are named by package"
    );
    let promoted: Vec<&Value> = events
        .iter()
        .filter(|e| e["ph"] == "i" && e["name"] == "promoted")
        .collect();
    assert_eq!(
        promoted.len() as u64,
        report["promotions"].as_u64().unwrap(),
        "a mark per promotion the scheduler counted"
    );
    assert!(!promoted.is_empty(), "queued prefetches were promoted");
}
