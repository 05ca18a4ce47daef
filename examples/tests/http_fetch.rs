//! The HTTP layer inside `lockfetch fetch` (in process, against the mock registry on loopback):
//! a server's `Retry-After` delays the retry, and an unreachable registry fails every package at
//! once with one cause. Every run is bounded by a deadline.

use std::time::{Duration, Instant};

use lockfetch::fetch::{FetchOptions, Report};
use lockfetch::generate::{GenConfig, Universe};
use lockfetch::registry::{Fault, MockRegistry, Shaping};

/// A generated universe, its lockfile on disk and a cache directory.
fn world(packages: usize) -> (Universe, tempfile::TempDir) {
    let universe = Universe::generate(&GenConfig {
        packages,
        total_bytes: Some(packages as u64 * 4_000),
        ..GenConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pnpm-lock.yaml"), universe.lockfile()).unwrap();
    (universe, dir)
}

/// Runs a fetch of `dir`'s lockfile from `registry` on its own thread, failing after 60 s.
fn fetch(dir: &tempfile::TempDir, registry: &str) -> Report {
    let mut options =
        FetchOptions::new(dir.path().join("pnpm-lock.yaml"), dir.path().join("cache"));
    options.registry = Some(registry.to_string());
    options.platforms = Some(lockfetch::platform::Platforms::all());
    options.attempts = Some(3);
    options.retry_delay = Some(Duration::from_millis(1));
    options.connect_timeout = Duration::from_secs(5);
    options.read_timeout = Duration::from_secs(5);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(lockfetch::fetch::run(&options));
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("fetch did not finish within 60 s")
        .expect("fetch could start")
}

#[test]
fn retry_after_delays_the_next_attempt() {
    let (universe, dir) = world(5);
    let registry = MockRegistry::for_universe(&universe, Shaping::none()).unwrap();
    let (path, _) = universe.files().next().unwrap();
    let fault = Fault::RetryAfter {
        status: 503,
        seconds: 1,
    };
    registry.inject_times(&path, fault, 1);
    let start = Instant::now();
    let report = fetch(&dir, &registry.url());
    assert!(report.ok(), "{report:?}");
    assert_eq!(registry.requests_for(&path), 2);
    // The retry waited for the server's second, not for the 1 ms backoff.
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn an_unreachable_registry_fails_every_package_with_one_cause() {
    let (_universe, dir) = world(40);
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let report = fetch(&dir, &format!("http://127.0.0.1:{port}"));
    assert_eq!(report.failed.len(), 40);
    // The same cause for every package (a retried one may say after how many attempts).
    let cause = |e: &str| e.split(" (after ").next().unwrap_or(e).to_string();
    let causes: std::collections::BTreeSet<_> =
        report.failed.iter().map(|f| cause(&f.error)).collect();
    assert_eq!(causes.len(), 1, "{causes:#?}");
    let only = causes.first().unwrap();
    assert!(
        only.contains("refused") && only.contains("--registry"),
        "{only}"
    );
}
