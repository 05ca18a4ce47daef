//! The demo's human output: a description of the run, a headline computed from it, the table,
//! and a legend of every column.

use std::fmt::Write as _;

use super::{DemoArgs, DemoReport};
use crate::sim::StrategyReport;

/// What each column of the table means.
pub const LEGEND: &str = concat!(
    "  wall ms         from the start of resolution to the last package extracted\n",
    "  bound ms        the soonest that run could end, whatever the strategy: no package\n",
    "                  downloaded before the resolver found it nor faster than the link allows,\n",
    "                  then extracted if it could not be warm when the install began\n",
    "  x bound         wall ms / bound ms: 1.00 leaves nothing to gain\n",
    "  requests        tarball requests the registry received (counted by the server)\n",
    "  duplicates      requests for a tarball already requested: downloads made twice\n",
    "  MB sent         tarball bytes the registry sent\n",
    "  demand wait ms  from the start of the install to the last cold package's bytes\n",
    "  cold            needed packages not yet in the store index when the install began\n",
);

/// The human table of `report`: a description of the run, a headline, the table, its legend.
pub fn render_table(report: &DemoReport, args: &DemoArgs) -> String {
    let mut out = String::new();
    let resolve_ms = report
        .strategies
        .iter()
        .map(|s| s.resolve_ms)
        .fold(0.0, f64::max);
    let _ = writeln!(
        out,
        "install simulation: {} packages ({:.1} MB needed), {} ms RTT, {} Mbit/s, {} download \
         slots, resolution {} at a time",
        report.packages,
        report.bytes as f64 / 1e6,
        args.rtt_ms,
        args.bandwidth_mbit,
        args.concurrency,
        args.resolve_concurrency
    );
    let _ = writeln!(
        out,
        "resolution took {resolve_ms:.0} ms; the needed bytes alone take {:.0} ms on the link",
        report.floor_ms
    );
    if args.rounds > 1 {
        let _ = writeln!(
            out,
            "each strategy ran {} times, taking turns; the table shows its run of median wall time",
            args.rounds
        );
    }
    if let Some(headline) = headline(report) {
        let _ = writeln!(out, "\n{headline}\n");
    }
    let _ = writeln!(
        out,
        "{:<10} {:>8} {:>8} {:>7} {:>8} {:>10} {:>7} {:>14} {:>5}",
        "strategy",
        "wall ms",
        "bound ms",
        "x bound",
        "requests",
        "duplicates",
        "MB sent",
        "demand wait ms",
        "cold"
    );
    for s in &report.strategies {
        let _ = writeln!(
            out,
            "{:<10} {:>8.0} {:>8.0} {:>7.2} {:>8} {:>10} {:>7.1} {:>14.0} {:>5}",
            s.name,
            s.wall_ms,
            s.bound_ms,
            s.wall_ms / s.bound_ms.max(f64::MIN_POSITIVE),
            s.requests,
            s.duplicate_requests,
            s.bytes as f64 / 1e6,
            s.demand_wait_ms,
            s.cold
        );
    }
    if report
        .strategies
        .iter()
        .any(|s| !s.wall_ms_rounds.is_empty())
    {
        let _ = writeln!(out, "\nwall ms of every run, in order:");
        for s in &report.strategies {
            let walls: Vec<String> = s.wall_ms_rounds.iter().map(|w| format!("{w:.0}")).collect();
            let _ = writeln!(out, "  {:<10} {}", s.name, walls.join(" "));
        }
    }
    let _ = write!(out, "\n{LEGEND}");
    out
}

/// The sentence that says what the run shows, computed from it: the scheduler's duplicates, how
/// it compares with the best other strategy and with its bound, and the speculative downloads it
/// never made. `None` without a `scheduler` run.
pub fn headline(report: &DemoReport) -> Option<String> {
    let ours = report.strategies.iter().find(|s| s.name == "scheduler")?;
    let mut line = format!(
        "scheduler: {} duplicate download{}",
        ours.duplicate_requests,
        plural(ours.duplicate_requests)
    );
    let best = report
        .strategies
        .iter()
        .filter(|s| s.name != "scheduler")
        .min_by(|a, b| a.wall_ms.total_cmp(&b.wall_ms));
    if let Some(best) = best {
        let _ = write!(line, ", {}", compared(ours, best));
    }
    let above = (ours.wall_ms / ours.bound_ms.max(f64::MIN_POSITIVE) - 1.0) * 100.0;
    let _ = write!(
        line,
        ", {} above what any strategy could reach",
        percent(above)
    );
    let never = never_requested(report, ours);
    if never > 0 {
        let _ = write!(
            line,
            "; {never} speculative download{} never made",
            plural(never)
        );
    }
    if let Some(naive) = report.strategies.iter().find(|s| s.name == "naive") {
        let _ = write!(
            line,
            "\nnaive (pnpm/pnpm#12241): {} duplicate download{}",
            naive.duplicate_requests,
            plural(naive.duplicate_requests)
        );
    }
    Some(line)
}

/// "12 % sooner than fifo, the best other strategy" (or later, or level with).
fn compared(ours: &StrategyReport, best: &StrategyReport) -> String {
    let gain = (1.0 - ours.wall_ms / best.wall_ms.max(f64::MIN_POSITIVE)) * 100.0;
    let how = if gain.abs() < 0.05 {
        "level with".to_string()
    } else if gain > 0.0 {
        format!("{} sooner than", percent(gain))
    } else {
        format!("{} later than", percent(-gain))
    };
    format!("{how} {}, the best other strategy", best.name)
}

/// Packages of the lockfile whose tarball `s` never asked for (all speculative: every needed one
/// is downloaded).
fn never_requested(report: &DemoReport, s: &StrategyReport) -> u64 {
    let distinct = s.requests.saturating_sub(s.duplicate_requests);
    (report.packages as u64).saturating_sub(distinct)
}

/// A percentage, to one decimal below 10.
fn percent(p: f64) -> String {
    if p.abs() < 9.95 {
        format!("{p:.1} %")
    } else {
        format!("{p:.0} %")
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
