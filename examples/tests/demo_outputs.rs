//! `lockfetch demo --json --plot F.svg --trace F.json` run as a child process (with a deadline, so
//! a hang fails fast) on a small, download-bound simulation: the JSON's fields, the SVG parsed as
//! XML with a curve and a legend entry per strategy, and the trace parsed with a span per download
//! and the promotions marked. Loopback only.

mod common;
mod trace_format;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::{Command, Stdio};

use common::{Run, run_with_deadline};
use serde_json::Value;

const STRATEGIES: [&str; 4] = ["naive", "barrier", "fifo", "scheduler"];

/// A small run where resolution is far faster than the link: the cold batch finds most packages
/// still queued behind prefetches, so the scheduler promotes them.
const SMALL: [&str; 14] = [
    "--packages",
    "80",
    "--rtt-ms",
    "2",
    "--resolve-concurrency",
    "1000",
    "--concurrency",
    "16",
    "--reserved-for-demand",
    "4",
    "--index-lag-ms",
    "50",
    "--seed",
    "5",
];

fn demo(extra: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lockfetch"));
    cmd.arg("demo")
        .args(SMALL)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run_with_deadline(cmd)
}

fn sorted_keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort();
    keys
}

#[test]
fn json_plot_and_trace_of_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let (svg_path, trace_path) = (dir.path().join("demo.svg"), dir.path().join("trace.json"));
    let run = demo(&[
        "--json",
        "--plot",
        svg_path.to_str().unwrap(),
        "--trace",
        trace_path.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);

    // The JSON: one object on stdout, the documented fields, server-counted requests.
    let json: Value = serde_json::from_str(run.stdout.trim()).expect("stdout is one JSON object");
    assert_eq!(
        sorted_keys(&json),
        ["bytes", "floor_ms", "packages", "strategies"]
    );
    assert_eq!(json["packages"], 80);
    let strategies = json["strategies"].as_array().unwrap();
    let names: Vec<&str> = strategies
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, STRATEGIES);
    let by_name: BTreeMap<&str, &Value> = names.iter().copied().zip(strategies).collect();
    for (name, s) in &by_name {
        assert_eq!(
            sorted_keys(s),
            [
                "bound_ms",
                "bytes",
                "demand_wait_ms",
                "duplicate_requests",
                "name",
                "requests",
                "wall_ms"
            ]
        );
        let (wall, bound) = (
            s["wall_ms"].as_f64().unwrap(),
            s["bound_ms"].as_f64().unwrap(),
        );
        assert!(
            bound > 0.0 && wall >= bound,
            "{name} ended before its bound: {s}"
        );
        assert!(
            s["bytes"].as_u64().unwrap() >= json["bytes"].as_u64().unwrap(),
            "{name}: every needed byte was sent: {s}"
        );
    }
    let count = |name: &str, field: &str| by_name[name][field].as_u64().unwrap();
    assert!(count("naive", "duplicate_requests") > 0, "{json}");
    for name in ["barrier", "fifo", "scheduler"] {
        assert_eq!(count(name, "duplicate_requests"), 0, "{name}: {json}");
    }
    assert_eq!(count("fifo", "requests"), 80, "fifo downloads everything");
    assert!(
        count("scheduler", "requests") < 80,
        "the scheduler drops queued speculative work: {json}"
    );

    // The table on stderr has its headline and legend.
    assert!(
        run.stderr.contains("scheduler: 0 duplicate downloads, "),
        "{}",
        run.stderr
    );
    for column in ["wall ms", "bound ms", "x bound", "demand wait ms", "cold"] {
        assert!(
            run.stderr
                .lines()
                .any(|l| l.trim_start().starts_with(column) && l.len() > column.len() + 10),
            "no legend line for `{column}`: {}",
            run.stderr
        );
    }

    check_svg(&svg_path, &by_name);
    check_trace(&trace_path, count("scheduler", "requests"));
}

/// The SVG parses, and each strategy has a curve in its colour, a dot where it ends and a legend
/// entry with its wall time from the JSON.
fn check_svg(path: &Path, by_name: &BTreeMap<&str, &Value>) {
    let text = std::fs::read_to_string(path).expect("the plot was written");
    let doc = roxmltree::Document::parse(&text).expect("the plot is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    for (name, s) in by_name {
        let colour = lockfetch::plot::colour_hex(name);
        let curves = doc
            .descendants()
            .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke") == Some(&colour))
            .filter(|n| {
                n.attribute("points")
                    .is_some_and(|p| p.split(' ').count() > 10)
            })
            .count();
        assert!(curves >= 1, "no curve for {name} in {colour}");
        let label = format!("{name} — {:.2} s", s["wall_ms"].as_f64().unwrap() / 1000.0);
        assert!(texts.contains(&label.as_str()), "no `{label}` in {texts:?}");
    }
    assert!(
        texts.iter().any(|t| t.starts_with("bound — ")),
        "the bound is marked: {texts:?}"
    );

    // One dot where each install ends, in its colour, further right for a longer wall time.
    let mut ends: Vec<(f64, f64)> = by_name
        .iter()
        .map(|(name, s)| {
            let colour = lockfetch::plot::colour_hex(name);
            let dots: Vec<f64> = doc
                .descendants()
                .filter(|n| n.has_tag_name("circle") && n.attribute("fill") == Some(&colour))
                .filter_map(|n| n.attribute("cx")?.parse().ok())
                .collect();
            assert_eq!(dots.len(), 1, "one end dot for {name}");
            (s["wall_ms"].as_f64().unwrap(), dots[0])
        })
        .collect();
    ends.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(
        ends.windows(2).all(|w| w[0].1 <= w[1].1),
        "end dots in wall-time order: {ends:?}"
    );
}

/// The trace parses as trace-event JSON (strictly), has one span per download the server counted, on slot
/// tracks that never run two at once, and marks promotions.
fn check_trace(path: &Path, requests: u64) {
    let text = std::fs::read_to_string(path).expect("the trace was written");
    let trace: Value = serde_json::from_str(&text).expect("the trace is JSON");
    trace_format::check_trace_event_format(&trace);
    let events = trace["traceEvents"].as_array().expect("traceEvents");
    let phase = |ph: &'static str| events.iter().filter(move |e| e["ph"] == ph);
    let spans: Vec<&Value> = phase("X").collect();
    assert_eq!(
        spans.len() as u64,
        requests,
        "one span per request the server saw"
    );
    let mut by_slot: BTreeMap<u64, Vec<(f64, f64)>> = BTreeMap::new();
    for span in &spans {
        let (ts, dur) = (span["ts"].as_f64().unwrap(), span["dur"].as_f64().unwrap());
        assert!(ts >= 0.0 && dur >= 0.0, "{span}");
        assert_eq!(span["args"]["outcome"], "succeeded", "{span}");
        by_slot
            .entry(span["tid"].as_u64().unwrap())
            .or_default()
            .push((ts, ts + dur));
    }
    assert!(
        !by_slot.contains_key(&0) && by_slot.len() <= 16,
        "slots 1..=16: {:?}",
        by_slot.keys()
    );
    for (slot, spans) in &mut by_slot {
        spans.sort_by(|a, b| a.0.total_cmp(&b.0));
        for pair in spans.windows(2) {
            assert!(
                pair[1].0 >= pair[0].1,
                "slot {slot} runs two at once: {pair:?}"
            );
        }
    }
    let named: HashSet<u64> = phase("M")
        .filter(|m| m["name"] == "thread_name")
        .map(|m| m["tid"].as_u64().unwrap())
        .collect();
    assert!(
        by_slot.keys().all(|slot| named.contains(slot)),
        "every slot track is named"
    );
    let promotions = phase("i").filter(|e| e["name"] == "promoted").count();
    assert!(promotions > 0, "the cold batch promoted queued prefetches");
    let (begins, ends) = (phase("b").count(), phase("e").count());
    assert!(
        begins >= spans.len() && begins == ends,
        "queue spans open and close"
    );
}

#[test]
fn bad_options_fail_before_running() {
    let run = demo(&["--trace", "/nonexistent-dir/t.json"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("--trace /nonexistent-dir/t.json: no directory"),
        "{}",
        run.stderr
    );
    let run = demo(&["--strategy", "fifo", "--trace", "t.json"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("--trace records the scheduler"),
        "{}",
        run.stderr
    );
    assert!(!Path::new("t.json").exists());
}
