//! The fake store index: a package becomes warm only `lag` after its download finished.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Rows of the store index, one per package, each visible from its commit time on.
#[derive(Debug)]
pub(crate) struct StoreIndex {
    lag: Duration,
    rows: Mutex<Vec<Option<Instant>>>,
}

impl StoreIndex {
    pub(crate) fn new(packages: usize, lag: Duration) -> StoreIndex {
        StoreIndex {
            lag,
            rows: Mutex::new(vec![None; packages]),
        }
    }

    /// A download of `package` finished now: its row commits `lag` from now (first write wins).
    pub(crate) fn record(&self, package: usize) {
        let mut rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        rows[package].get_or_insert(Instant::now() + self.lag);
    }

    /// Whether the row of `package` is visible at `at`.
    pub(crate) fn is_warm(&self, package: usize, at: Instant) -> bool {
        let rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        rows[package].is_some_and(|visible| visible <= at)
    }
}
