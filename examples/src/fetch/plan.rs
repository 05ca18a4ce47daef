//! The fetch plan: which packages this run downloads, which are cached, which are skipped.

use std::collections::{BTreeMap, HashMap};

use super::{Failure, Request};
use crate::cache::Cache;
use crate::config::{Config, ConfigError};
use crate::integrity::Integrity;
use crate::lockfile::{Lockfile, Source};
use crate::platform::Platforms;

/// What a run will do.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Downloads, direct dependencies first, one per URL.
    pub(crate) requests: Vec<Request>,
    /// How many of `requests` are direct dependencies (at the front).
    pub(crate) direct: usize,
    /// Lockfile packages per request URL (more than one when several share a tarball).
    pub(crate) members: HashMap<String, usize>,
    /// Lockfile packages.
    pub(crate) packages: usize,
    /// Packages already in the cache.
    pub(crate) cached: usize,
    /// Cached files found wrong by `--verify`, fetched again.
    pub(crate) repaired: usize,
    /// Packages not downloaded, by reason (`for other platforms`, `local directory`…).
    pub(crate) skipped: BTreeMap<String, usize>,
    /// Packages that cannot be fetched at all.
    pub(crate) failed: Vec<Failure>,
}

/// The reason counted for packages of other platforms.
pub(crate) const OTHER_PLATFORMS: &str = "for other platforms";
/// The reason counted for packages only other platforms' packages depend on.
pub(crate) const ONLY_FOR_OTHER_PLATFORMS: &str = "needed only by those";

impl Plan {
    /// Plans `lock` against the cache: with `verify`, every cached file is re-hashed (a bad one
    /// is removed and fetched again). Without a cache, every needed package is planned.
    pub(crate) async fn make(
        lock: &Lockfile,
        config: &Config,
        platforms: &Platforms,
        cache: Option<&Cache>,
        verify: bool,
    ) -> Result<Plan, ConfigError> {
        let mut plan = Plan {
            packages: lock.packages.len(),
            ..Plan::default()
        };
        let direct: Vec<&str> = lock.direct_keys();
        // Packages only other platforms' packages depend on are not needed either (e.g. the
        // runtime helpers of a WebAssembly build); those the graph does not reach at all are
        // fetched anyway, as nothing says they are unneeded.
        let by_key: HashMap<&str, &crate::lockfile::Package> =
            lock.packages.iter().map(|p| (p.key.as_str(), p)).collect();
        let rejected = |key: &str| {
            by_key
                .get(key)
                .is_some_and(|p| !platforms.accepts(&p.platform))
        };
        let reached = lock.reachable(&|_| false);
        let needed = lock.reachable(&rejected);
        let mut wanted: Vec<(bool, Request)> = Vec::new();
        let mut to_verify = Vec::new();
        let mut candidates = Vec::new();
        for package in &lock.packages {
            let mut skip = |reason: String| *plan.skipped.entry(reason).or_default() += 1;
            if !platforms.accepts(&package.platform) {
                skip(OTHER_PLATFORMS.to_string());
                continue;
            }
            if reached.contains(&package.key) && !needed.contains(&package.key) {
                skip(ONLY_FOR_OTHER_PLATFORMS.to_string());
                continue;
            }
            let (url, integrity) = match &package.source {
                Source::Registry => {
                    let registry = config.require_registry()?;
                    let url = registry.tarball_url(&package.name, &package.version);
                    (url, package.integrity.clone())
                }
                Source::Tarball(url) => (url.clone(), package.integrity.clone()),
                Source::Variations(variants) => {
                    match platforms.pick_variant(variants.iter().map(|v| v.targets.as_slice())) {
                        Some(i) => (variants[i].url.clone(), variants[i].integrity.clone()),
                        None => {
                            plan.failed.push(Failure {
                                package: package.key.clone(),
                                error: "no archive for the wanted platform among its variants"
                                    .to_string(),
                            });
                            continue;
                        }
                    }
                }
                Source::Skipped(why) => {
                    skip(why.to_string());
                    continue;
                }
            };
            candidates.push((package.key.clone(), url, integrity));
        }

        // One `stat` per package, off the executor.
        let cached: Vec<bool> = match cache {
            Some(cache) => {
                let cache = cache.clone();
                let integrities: Vec<Option<Integrity>> =
                    candidates.iter().map(|(_, _, i)| i.clone()).collect();
                smol::unblock(move || {
                    integrities
                        .iter()
                        .map(|i| i.as_ref().is_some_and(|i| cache.contains(i)))
                        .collect()
                })
                .await
            }
            None => vec![false; candidates.len()],
        };
        for ((key, url, integrity), cached) in candidates.into_iter().zip(cached) {
            if cached {
                match integrity {
                    Some(integrity) if verify => to_verify.push((key, url, integrity)),
                    _ => plan.cached += 1,
                }
                continue;
            }
            let is_direct = direct.contains(&key.as_str());
            *plan.members.entry(url.clone()).or_default() += 1;
            if plan.members[&url] == 1 {
                wanted.push((is_direct, Request::new(key, url, integrity, None)));
            }
        }

        // Re-hash cached files off the executor, a few at a time.
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .min(8);
        let chunk = to_verify.len().div_ceil(threads).max(1);
        let mut checks = Vec::new();
        // Only files found in the cache are verified.
        if let Some(cache) = cache {
            for part in to_verify.chunks(chunk) {
                let part = part.to_vec();
                let cache = cache.clone();
                checks.push(smol::unblock(move || {
                    part.into_iter()
                        .map(|(key, url, integrity)| {
                            // A mismatch or an unreadable file: fetch it again.
                            let good = cache.verify(&integrity).unwrap_or(false);
                            if !good {
                                let _ = cache.remove(&integrity);
                            }
                            (key, url, integrity, good)
                        })
                        .collect::<Vec<_>>()
                }));
            }
        }
        for check in checks {
            for (key, url, integrity, good) in check.await {
                if good {
                    plan.cached += 1;
                    continue;
                }
                plan.repaired += 1;
                let is_direct = direct.contains(&key.as_str());
                *plan.members.entry(url.clone()).or_default() += 1;
                if plan.members[&url] == 1 {
                    wanted.push((is_direct, Request::new(key, url, Some(integrity), None)));
                }
            }
        }

        // Direct dependencies first (stable: file order within each group).
        wanted.sort_by_key(|(is_direct, _)| !*is_direct);
        plan.direct = wanted.iter().filter(|(d, _)| *d).count();
        plan.requests = wanted.into_iter().map(|(_, r)| r).collect();
        Ok(plan)
    }

    /// Packages skipped in all.
    pub(crate) fn skipped_total(&self) -> usize {
        self.skipped.values().sum()
    }
}
