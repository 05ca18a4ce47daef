//! Several runs of each strategy, taken in turns, and the median run of each.
//!
//! Every run is a real-time simulation on the machine's clock, so a burst of load from elsewhere
//! slows whichever strategy happens to run through it. With `--rounds N` each strategy runs `N`
//! times; round `r` starts with the `r`-th strategy, so no strategy always runs after the same one,
//! and each strategy is reported by its run of median wall time, whose other figures (bound,
//! requests, plot, trace) are that run's own. Every round's wall time stays in the report.

use crate::sim::StrategyReport;

/// The order of the strategies in round `round` (0-based): `count` indices, rotated by `round`.
pub fn turn_order(count: usize, round: usize) -> Vec<usize> {
    (0..count).map(|i| (i + round) % count.max(1)).collect()
}

/// The run of median wall time among `runs` (the lower one of the two middle runs for an even
/// count), carrying every run's wall time in run order when there is more than one; `None` for no
/// run.
pub fn median_run(runs: Vec<StrategyReport>) -> Option<StrategyReport> {
    let walls: Vec<f64> = runs.iter().map(|r| r.wall_ms).collect();
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by(|&a, &b| walls[a].total_cmp(&walls[b]));
    let median = *order.get(runs.len().checked_sub(1)? / 2)?;
    let mut report = runs.into_iter().nth(median)?;
    if walls.len() > 1 {
        report.wall_ms_rounds = walls;
    }
    Some(report)
}
