//! A lower bound on the wall time of any strategy, from when each package was discovered.
//!
//! Whatever a strategy does, a package's download cannot start before the resolver discovers it,
//! its response comes at least one RTT later, and its bytes cross the link at most at full
//! bandwidth (less the link's small burst allowance). A package that cannot be warm when the install starts (even that fastest download
//! would finish less than `index_lag` before resolution ends) is cold for every strategy, so it
//! is extracted on one of the `workers` after its bytes are in and after the install began. The
//! bound is the latest such end over those packages, or the install start plus their extraction
//! work spread over every worker, whichever is larger. It leaves out that downloads share the
//! link, so it is optimistic: no run can beat it.

use std::time::Duration;

use super::Env;
use crate::registry::mbit_to_bytes;
use crate::registry::shaping::BURST;

/// The bound for a run whose resolution ended `resolve_end` after the start, or `None` if some
/// needed package was never discovered (the run failed anyway).
pub(crate) fn discovery_bound(env: &Env, resolve_end: Duration) -> Option<Duration> {
    let bandwidth = mbit_to_bytes(env.config.bandwidth_mbit).max(1) as f64;
    let mut latest = resolve_end;
    let mut extraction = Duration::ZERO;
    for (package, p) in env.universe.packages.iter().enumerate() {
        if !p.needed {
            continue;
        }
        let discovered = env.discovered_at(package)?;
        let transfer = Duration::from_secs_f64(p.size() as f64 / bandwidth).saturating_sub(BURST);
        let arrival = discovered + env.config.rtt + transfer;
        if arrival + env.config.index_lag <= resolve_end {
            continue; // could be warm at install start
        }
        let extract = env.extract_cost(package);
        extraction += extract;
        latest = latest.max(arrival.max(resolve_end) + extract);
    }
    let spread = resolve_end + extraction / u32::try_from(env.config.workers.max(1)).ok()?;
    Some(latest.max(spread))
}
