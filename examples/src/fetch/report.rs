//! The result of a `fetch` run, printed as one JSON object with `--json`.

use serde::Serialize;

/// What a `fetch` run did. Serializes to the documented `--json` object:
/// `{"packages","fetched","cached","duplicate_fetches","bytes","integrity_verified","promotions",
/// "failed":[{"package","error"}],"wall_ms"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Packages in the lockfile.
    pub packages: usize,
    /// Packages downloaded by this run.
    pub fetched: usize,
    /// Packages already in the cache.
    pub cached: usize,
    /// Downloads of a package beyond its first (0 with the scheduler's single flight).
    pub duplicate_fetches: u64,
    /// Tarball bytes downloaded and stored.
    pub bytes: u64,
    /// Downloads whose content was checked against the lockfile's integrity.
    pub integrity_verified: usize,
    /// Prefetches promoted to demand by the scheduler.
    pub promotions: u64,
    /// Packages that are not in the cache after the run, with the cause.
    pub failed: Vec<Failure>,
    /// Wall-clock time of the run in milliseconds.
    pub wall_ms: u64,
}

/// One package that could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// `name@version`.
    pub package: String,
    /// The cause, one line.
    pub error: String,
}

impl Report {
    /// Whether every package is in the cache, verified: the exit status is 0 only then.
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.fetched + self.cached == self.packages
    }

    /// The `--json` form, one line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// A human summary (several lines), for stderr.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "{} packages: {} fetched ({:.1} MB, {} verified), {} already cached, {} promotions, {} failed in {} ms",
            self.packages,
            self.fetched,
            self.bytes as f64 / 1e6,
            self.integrity_verified,
            self.cached,
            self.promotions,
            self.failed.len(),
            self.wall_ms
        );
        for f in &self.failed {
            out.push_str(&format!("\nerror: {}: {}", f.package, f.error));
        }
        out
    }
}
