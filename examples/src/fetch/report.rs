//! The result of a `fetch` run: the `--json` object and the summary a person reads.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

/// What a `fetch` run did. Serializes to the documented `--json` object:
/// `{"packages","fetched","cached","skipped","duplicate_fetches","bytes","integrity_verified",
/// "promotions","failed":[{"package","error"}],"wall_ms"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Packages in the lockfile.
    pub packages: usize,
    /// Packages downloaded by this run.
    pub fetched: usize,
    /// Packages already in the cache.
    pub cached: usize,
    /// Packages not downloaded: other platforms, local directories, git repositories…
    pub skipped: usize,
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
    /// Why packages were skipped, with counts (in the summary, not in the JSON).
    #[serde(skip)]
    pub skipped_by_reason: BTreeMap<String, usize>,
    /// Cached files found damaged and fetched again.
    #[serde(skip)]
    pub repaired: usize,
    /// Requests that joined a download already queued or running (`--verbose`).
    #[serde(skip)]
    pub joins: u64,
    /// Whether the user interrupted the run.
    #[serde(skip)]
    pub interrupted: bool,
}

/// Packages listed under one cause in the summary; `--json` has them all.
const LISTED: usize = 12;

/// One package that could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// `name@version`.
    pub package: String,
    /// The cause, one line.
    pub error: String,
}

impl Report {
    /// Whether every package is in the cache, verified, or skipped: the exit status is 0 only
    /// then.
    pub fn ok(&self) -> bool {
        !self.interrupted
            && self.failed.is_empty()
            && self.fetched + self.cached + self.skipped == self.packages
    }

    /// Packages this platform needs.
    pub fn needed(&self) -> usize {
        self.packages - self.skipped
    }

    /// The `--json` form, one line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The one line printed when the user interrupts the run.
    pub fn interrupted_line(&self) -> String {
        format!(
            "interrupted: {} of {} fetched; run again to finish",
            self.fetched + self.cached,
            self.needed()
        )
    }

    /// A human summary (several lines), for stderr: counts in the user's words, skipped
    /// packages on one line, failures grouped by cause; scheduler counters with `verbose`.
    pub fn summary(&self, verbose: bool) -> String {
        let mut out = format!(
            "{} packages: {} fetched ({:.1} MB), {} already cached",
            self.packages,
            self.fetched,
            self.bytes as f64 / 1e6,
            self.cached
        );
        if self.skipped > 0 {
            let _ = write!(out, ", {} skipped", self.skipped);
        }
        if !self.failed.is_empty() {
            let _ = write!(out, ", {} failed", self.failed.len());
        }
        let _ = write!(out, " in {:.1} s", self.wall_ms as f64 / 1000.0);
        if self.skipped > 0 {
            let reasons: Vec<String> = self
                .skipped_by_reason
                .iter()
                .map(|(why, n)| format!("{n} {why}"))
                .collect();
            let _ = write!(out, "\nskipped: {}", reasons.join(", "));
        }
        if self.repaired > 0 {
            let _ = write!(
                out,
                "\nrepaired: {} damaged cached file(s) fetched again",
                self.repaired
            );
        }
        if verbose {
            let _ = write!(
                out,
                "\nscheduler: {} promotions, {} joins, {} duplicate downloads, {} verified",
                self.promotions, self.joins, self.duplicate_fetches, self.integrity_verified
            );
        }
        for (cause, packages) in group_failures(&self.failed) {
            let _ = write!(
                out,
                "\nerror: {} package{} failed: {cause}",
                packages.len(),
                if packages.len() == 1 { "" } else { "s" }
            );
            if cause.starts_with("integrity mismatch") {
                out.push_str(
                    "\n  the registry sent other bytes than the lockfile records. If the lockfile is right, \
                     something on the way (a proxy, a mirror) altered the tarball: run again, or ask the \
                     registry's owner. If the package was republished, `pnpm install` updates the lockfile.",
                );
            }
            for p in packages.iter().take(LISTED) {
                let _ = write!(out, "\n  {p}");
            }
            if packages.len() > LISTED {
                let _ = write!(
                    out,
                    "\n  … and {} more (--json lists them all)",
                    packages.len() - LISTED
                );
            }
        }
        out
    }
}

/// Failures grouped by cause (the message without the package's own URL), biggest group first.
pub fn group_failures(failed: &[Failure]) -> Vec<(String, Vec<&str>)> {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for f in failed {
        let cause = cause_of(&f.error);
        match groups.iter_mut().find(|(c, _)| *c == cause) {
            Some((_, list)) => list.push(&f.package),
            None => groups.push((cause, vec![&f.package])),
        }
    }
    groups.sort_by_key(|(_, list)| std::cmp::Reverse(list.len()));
    groups
}

/// `GET http://…/a.tgz: HTTP status 404` → `HTTP status 404`: what differs per package goes.
fn cause_of(error: &str) -> String {
    if let Some(rest) = error.strip_prefix("GET ")
        && let Some((_, cause)) = rest.split_once(": ")
    {
        return cause.to_string();
    }
    // The digests differ per package; the JSON keeps them.
    if error.starts_with("integrity mismatch") {
        return "integrity mismatch".to_string();
    }
    error.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(package: &str, error: &str) -> Failure {
        Failure {
            package: package.into(),
            error: error.into(),
        }
    }

    #[test]
    fn failures_group_by_cause() {
        let failed = [
            failure(
                "a@1",
                "GET http://127.0.0.1:1/a.tgz: HTTP status 404 Not Found",
            ),
            failure(
                "b@1",
                "integrity mismatch: expected sha512-x, got sha512-y (3 bytes)",
            ),
            failure(
                "c@1",
                "GET http://127.0.0.1:1/c.tgz: HTTP status 404 Not Found",
            ),
        ];
        let groups = group_failures(&failed);
        assert_eq!(
            groups,
            [
                ("HTTP status 404 Not Found".to_string(), vec!["a@1", "c@1"]),
                ("integrity mismatch".to_string(), vec!["b@1"]),
            ]
        );
        let report = Report {
            packages: 5,
            fetched: 1,
            skipped: 1,
            failed: failed.to_vec(),
            skipped_by_reason: [("for other platforms".to_string(), 1)].into(),
            ..Report::default()
        };
        let text = report.summary(false);
        assert!(
            text.contains("error: 2 packages failed: HTTP status 404 Not Found\n  a@1\n  c@1"),
            "{text}"
        );
        assert!(text.contains("pnpm install"), "{text}");
        assert!(text.contains("\nskipped: 1 for other platforms"), "{text}");
        assert!(!text.contains("promotions"), "{text}");
        assert!(report.summary(true).contains("promotions"));
        assert!(!report.ok());
    }
}
