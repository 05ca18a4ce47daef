//! Per-round-trip latencies of the promotion benchmarks, for p50 and p99 beyond criterion's
//! estimates (criterion reports the mean time of a batch of round trips).

use std::fmt;
use std::time::Duration;

/// Every round trip timed during one benchmark function (warm-up included).
#[derive(Debug, Default)]
pub struct Latencies {
    samples: Vec<Duration>,
}

/// The percentiles printed and written for one benchmark function.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    /// Round trips measured.
    pub count: usize,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Mean.
    pub mean: Duration,
}

impl Latencies {
    /// An empty recorder.
    pub fn new() -> Self {
        Latencies::default()
    }

    /// Records one round trip.
    pub fn record(&mut self, sample: Duration) {
        self.samples.push(sample);
    }

    /// p50, p99 and mean of everything recorded; `None` if nothing was.
    pub fn summary(&mut self) -> Option<Summary> {
        if self.samples.is_empty() {
            return None;
        }
        self.samples.sort_unstable();
        let at = |q: f64| self.samples[((self.samples.len() - 1) as f64 * q).round() as usize];
        let total: Duration = self.samples.iter().sum();
        Some(Summary {
            count: self.samples.len(),
            p50: at(0.50),
            p99: at(0.99),
            mean: total / self.samples.len() as u32,
        })
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "p50 {:>9.3} µs  p99 {:>9.3} µs  mean {:>9.3} µs  ({} round trips)",
            self.p50.as_secs_f64() * 1e6,
            self.p99.as_secs_f64() * 1e6,
            self.mean.as_secs_f64() * 1e6,
            self.count
        )
    }
}
