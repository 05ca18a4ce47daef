//! The generator and the install simulation: determinism, the lockfile, and a small demo run in
//! which `naive` duplicates downloads and `scheduler` does not. Loopback only; every run is
//! guarded by a timeout.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use lockfetch::demo::{self, DemoArgs};
use lockfetch::generate::{GenConfig, Universe, sri_sha512, tarball_bytes, tarball_path};
use lockfetch::sim::{self, SimConfig, Strategy};

mod demo_support;
use demo_support::with_timeout;

fn config(packages: usize, seed: u64) -> GenConfig {
    GenConfig {
        packages,
        seed,
        ..GenConfig::default()
    }
}

#[test]
fn generation_is_deterministic_and_shaped() {
    let a = Universe::generate(&config(120, 1));
    let b = Universe::generate(&config(120, 1));
    let c = Universe::generate(&config(60, 2));
    assert_eq!(a.lockfile(), b.lockfile());
    assert_ne!(a.lockfile(), c.lockfile());
    assert_eq!(a.packages.len(), 120);
    let keys: HashSet<String> = a.packages.iter().map(|p| p.key()).collect();
    assert_eq!(keys.len(), 120, "name@version pairs are unique");
    assert!(
        a.packages.iter().any(|p| p.name.starts_with('@')),
        "some are scoped"
    );
    let speculative = a.packages.iter().filter(|p| !p.needed).count();
    assert_eq!(speculative, 18, "15 % speculative");
    let target = 120 * lockfetch::generate::BYTES_PER_PACKAGE;
    let total = a.total_bytes();
    assert!(total.abs_diff(target) < target / 50, "{total} vs {target}");
    for (i, p) in a.packages.iter().enumerate() {
        if i < 30 {
            let bytes = tarball_bytes(&p.name, &p.version, p.tarball.len());
            assert_eq!(&p.tarball[..], &bytes[..]);
            assert_eq!(p.integrity, sri_sha512(&p.tarball));
        }
        for &d in &p.dependencies {
            assert!(
                a.packages[d].needed,
                "needed packages depend on needed packages"
            );
        }
        for &d in &p.optional_dependencies {
            assert!(!a.packages[d].needed);
        }
    }
    // Every package is reachable from the importer.
    let mut seen = vec![false; a.packages.len()];
    let mut stack = a.direct.clone();
    while let Some(i) = stack.pop() {
        if !std::mem::replace(&mut seen[i], true) {
            stack.extend(&a.packages[i].dependencies);
            stack.extend(&a.packages[i].optional_dependencies);
        }
    }
    assert!(seen.iter().all(|&s| s));
}

#[test]
fn tarball_paths_are_npm_style() {
    assert_eq!(
        tarball_path("left-pad", "1.3.0"),
        "/left-pad/-/left-pad-1.3.0.tgz"
    );
    assert_eq!(
        tarball_path("@types/node", "20.1.0"),
        "/@types/node/-/node-20.1.0.tgz"
    );
}

#[test]
fn lockfile_is_pnpm_v9() {
    let u = Universe::generate(&config(120, 3));
    let text = u.lockfile();
    assert!(text.starts_with("lockfileVersion: '9.0'\n"));
    let doc: yaml_serde::Value = yaml_serde::from_str(&text).expect("valid YAML");
    let packages = doc["packages"].as_mapping().expect("packages map");
    assert_eq!(packages.len(), 120);
    for p in &u.packages {
        let entry = &packages[p.key().as_str()];
        assert_eq!(
            entry["resolution"]["integrity"].as_str(),
            Some(p.integrity.as_str()),
            "{}",
            p.key()
        );
    }
    let direct = doc["importers"]["."]["dependencies"].as_mapping().unwrap();
    assert_eq!(direct.len(), u.direct.len());
    let snapshots = doc["snapshots"].as_mapping().unwrap();
    assert_eq!(snapshots.len(), 120);

    // The `fetch` command's parser reads it too.
    let parsed = lockfetch::lockfile::Lockfile::parse(
        &text,
        "pnpm-lock.yaml",
        lockfetch::lockfile::ParseOptions::default(),
    )
    .expect("lockfetch parses the generated lockfile");
    assert_eq!(parsed.packages.len(), 120);
}

#[test]
fn default_universe_is_about_90_mb() {
    let sizes = GenConfig::default().sizes();
    assert_eq!(sizes.len(), 1355);
    let mb = sizes.iter().sum::<u64>() as f64 / 1e6;
    assert!((85.0..95.0).contains(&mb), "{mb} MB");
    let multi_mb = sizes.iter().filter(|&&s| s >= 2_000_000).count();
    assert!((3..=10).contains(&multi_mb), "{multi_mb} outliers");
    let small = Universe::generate(&config(120, 9));
    let planned = config(120, 9).sizes();
    assert_eq!(
        small.packages.iter().map(|p| p.size()).collect::<Vec<_>>(),
        planned
    );
}

#[test]
fn small_demo_naive_duplicates_scheduler_does_not() {
    let args = DemoArgs {
        packages: 60,
        rtt_ms: 5,
        index_lag_ms: 100,
        ..DemoArgs::default()
    };
    let needed = Universe::generate(&args.gen_config()).needed_count();
    let report = with_timeout(60, move || demo::simulate(&args)).expect("demo runs");
    assert_eq!(report.packages, 60);
    let names: Vec<&str> = report.strategies.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["naive", "barrier", "fifo", "scheduler"]);
    let by_name = |n: &str| report.strategies.iter().find(|s| s.name == n).unwrap();
    assert!(by_name("naive").duplicate_requests > 0, "{report:?}");
    for name in ["barrier", "fifo", "scheduler"] {
        assert_eq!(by_name(name).duplicate_requests, 0, "{name}: {report:?}");
    }
    for s in &report.strategies {
        assert!(s.wall_ms > 0.0 && s.wall_ms < 30_000.0, "{s:?}");
        // The bound is a lower bound of every run: no strategy ends before it.
        assert!(
            s.bound_ms >= s.resolve_ms,
            "the bound includes resolution: {s:?}"
        );
        assert_eq!(
            s.ready_ms.len(),
            needed,
            "one ready time per needed package: {s:?}"
        );
        assert!(
            s.ready_ms.last().is_some_and(|&last| last <= s.wall_ms),
            "every package is ready by the end: {s:?}"
        );
        assert!(
            s.wall_ms >= s.bound_ms,
            "{} ended before its lower bound: {s:?}",
            s.name
        );
        assert!(
            s.bytes >= report.bytes,
            "{}: every needed byte was sent",
            s.name
        );
    }
    assert!(report.floor_ms > 5.0);

    let json: serde_json::Value = serde_json::to_value(&report).unwrap();
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort();
    assert_eq!(keys, ["bytes", "floor_ms", "packages", "strategies"]);
    let mut keys: Vec<&str> = json["strategies"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
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
}

#[test]
fn scheduler_fetches_each_needed_package_once_when_download_bound() {
    // Resolution far faster than the link: the cold batch finds most packages still queued, and
    // the scheduler drops the speculative ones instead of downloading them.
    let universe = Arc::new(Universe::generate(&config(80, 5)));
    let config = SimConfig {
        rtt: Duration::from_millis(2),
        bandwidth_mbit: 200.0,
        resolve_concurrency: 1000,
        concurrency: 16,
        reserved_for_demand: 4,
        index_lag: Duration::from_millis(50),
        ..SimConfig::default()
    };
    let needed = universe.needed_count() as u64;
    let u = universe.clone();
    let report = with_timeout(60, move || {
        sim::run(&u, &config, &[Strategy::Scheduler, Strategy::Fifo])
    })
    .expect("sim runs");
    let scheduler = &report.strategies[0];
    assert_eq!(scheduler.duplicate_requests, 0);
    assert!(scheduler.requests >= needed, "{scheduler:?}");
    assert!(
        scheduler.requests < 80,
        "speculative work was dropped: {scheduler:?}"
    );
    assert_eq!(
        report.strategies[1].requests, 80,
        "fifo downloads everything"
    );
}
