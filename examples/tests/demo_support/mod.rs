//! What the in-process tests of the demo share: a deadline for a simulated run, and a strategy's
//! report made by hand.

#![allow(dead_code)]

use std::sync::mpsc;
use std::time::Duration;

use lockfetch::sim::StrategyReport;

/// Runs `f` on a thread, failing the test if it takes longer than `secs`.
pub fn with_timeout<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(value) => value,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("timed out after {secs} s"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the run panicked"),
    }
}

/// A strategy's report with these figures and nothing else.
pub fn strategy(
    name: &str,
    wall_ms: f64,
    bound_ms: f64,
    requests: u64,
    duplicates: u64,
) -> StrategyReport {
    StrategyReport {
        name: name.to_string(),
        wall_ms,
        bound_ms,
        requests,
        duplicate_requests: duplicates,
        bytes: 0,
        demand_wait_ms: 0.0,
        wall_ms_rounds: Vec::new(),
        resolve_ms: 0.0,
        cold: 0,
        ready_ms: Vec::new(),
        trace: None,
    }
}
