//! One moment per package, on the run's clock: when it was discovered, when its first download
//! finished.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The first time something happened to each package, after `start`; lock-free, written once.
#[derive(Debug)]
pub(crate) struct Stamps {
    start: Instant,
    /// Nanoseconds after `start` plus one; 0 while it has not happened.
    at: Vec<AtomicU64>,
}

impl Stamps {
    pub(crate) fn new(start: Instant, packages: usize) -> Stamps {
        Stamps {
            start,
            at: (0..packages).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Notes that it happened to `package` now, unless it already had.
    pub(crate) fn note(&self, package: usize) {
        let nanos = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        let _ =
            self.at[package].compare_exchange(0, nanos + 1, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// When it first happened to `package`, after the start; `None` if it has not.
    pub(crate) fn get(&self, package: usize) -> Option<Duration> {
        match self.at[package].load(Ordering::Relaxed) {
            0 => None,
            n => Some(Duration::from_nanos(n - 1)),
        }
    }
}
