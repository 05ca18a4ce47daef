//! A lower bound on the wall time of any strategy, from when each package was discovered.
//!
//! Whatever a strategy does:
//!
//! 1. **Resolution.** The install cannot end before resolution does.
//! 2. **The link.** A package's request cannot leave before the resolver discovers it, and its
//!    first byte comes one RTT later; so every needed byte of the packages discovered at or after
//!    any moment `t` crosses the link after `t + RTT`, at most at full bandwidth (less the link's
//!    small burst allowance), and the last of them arrives no sooner than `t + RTT + bytes /
//!    bandwidth`. At the first discovery this is the transfer floor pushed back by the discovery
//!    itself; at later ones it is the tail of late discoveries that no scheduling can start
//!    earlier.
//! 3. **Extraction after it.** A needed package arriving at `a` is warm only if the install
//!    partitions at or after `a + index_lag` (so the install ends no sooner); otherwise it is cold
//!    and extracted on one of the `workers`, after `a` and after the partition, which happens when
//!    resolution ends or later (`barrier` waits for its prefetches first). And the cold packages'
//!    extraction work, spread over every worker after the partition, gives a last bound: the least,
//!    over the partition times a strategy could pick, of the partition time plus that work.
//!
//! Each term leaves out something every run pays (the link is shared with earlier packages; a new
//! connection costs one more RTT), so the bound is optimistic: no run can beat it.

use std::time::Duration;

use super::Env;
use crate::registry::mbit_to_bytes;
use crate::registry::shaping::BURST;

/// One needed package, as the bound sees it.
struct Needed {
    discovered: Duration,
    size: u64,
    /// The earliest its bytes can all be in: discovery, one RTT, its size at full bandwidth.
    arrival: Duration,
    extract: Duration,
}

/// The bound for a run whose resolution ended `resolve_end` after the start, or `None` if some
/// needed package was never discovered (the run failed anyway).
pub(crate) fn discovery_bound(env: &Env, resolve_end: Duration) -> Option<Duration> {
    let bandwidth = mbit_to_bytes(env.config.bandwidth_mbit).max(1) as f64;
    let transfer = |bytes: u64| Duration::from_secs_f64(bytes as f64 / bandwidth);
    let (rtt, lag) = (env.config.rtt, env.config.index_lag);
    let workers = u32::try_from(env.config.workers.max(1)).ok()?;
    let mut needed = Vec::new();
    for (package, p) in env.universe.packages.iter().enumerate() {
        if p.needed {
            let discovered = env.discovered_at(package)?;
            needed.push(Needed {
                discovered,
                size: p.size(),
                arrival: (discovered + rtt + transfer(p.size())).saturating_sub(BURST),
                extract: env.extract_cost(package),
            });
        }
    }
    let mut bound = resolve_end;

    // 2. The link, for the packages discovered at or after each discovery.
    needed.sort_by_key(|n| std::cmp::Reverse(n.discovered));
    let mut later_bytes = 0;
    for n in &needed {
        later_bytes += n.size;
        bound = bound.max((n.discovered + rtt + transfer(later_bytes)).saturating_sub(BURST));
    }

    // 3. Each package that cannot be warm at resolution's end: warm later, or extracted.
    let late = |n: &&Needed| n.arrival + lag > resolve_end;
    for n in needed.iter().filter(late) {
        let cold_end = n.arrival.max(resolve_end) + n.extract;
        bound = bound.max((n.arrival + lag).min(cold_end));
    }
    // ... and their extraction spread over the workers, for the best partition time.
    let mut partitions: Vec<Duration> = needed
        .iter()
        .filter(late)
        .map(|n| n.arrival + lag)
        .collect();
    partitions.push(resolve_end);
    let spread = partitions
        .iter()
        .map(|&at| {
            let cold: Duration = needed
                .iter()
                .filter(|n| n.arrival + lag > at)
                .map(|n| n.extract)
                .sum();
            at + cold / workers
        })
        .min()
        .unwrap_or(resolve_end);
    Some(bound.max(spread))
}
