//! The demo's headline and table, computed from a report: the comparison with the best other
//! strategy, the distance to the bound, the speculative downloads never made, and the legend.

use lockfetch::demo::{DemoArgs, LEGEND, headline, render_table};
use lockfetch::sim::SimReport;

mod demo_support;
use demo_support::strategy;

fn report(scheduler_wall: f64, scheduler_requests: u64) -> SimReport {
    SimReport {
        packages: 1000,
        bytes: 0,
        floor_ms: 1000.0,
        strategies: vec![
            strategy("naive", 5000.0, 2000.0, 1400, 400),
            strategy("barrier", 2600.0, 2000.0, 1000, 0),
            strategy("fifo", 2500.0, 2000.0, 1000, 0),
            strategy("scheduler", scheduler_wall, 2000.0, scheduler_requests, 0),
        ],
    }
}

#[test]
fn headline_compares_with_the_best_other_and_the_bound() {
    let line = headline(&report(2200.0, 850)).unwrap();
    assert_eq!(
        line,
        "scheduler: 0 duplicate downloads, 12 % sooner than fifo, the best other strategy, \
         10 % above what any strategy could reach; 150 speculative downloads never made\n\
         naive (pnpm/pnpm#12241): 400 duplicate downloads"
    );
    let line = headline(&report(2510.0, 1000)).unwrap();
    assert!(
        line.starts_with(
            "scheduler: 0 duplicate downloads, 0.4 % later than fifo, the best other strategy, \
             25 % above what any strategy could reach\n"
        ),
        "{line}"
    );
    let line = headline(&report(2500.5, 1000)).unwrap();
    assert!(line.contains(", level with fifo, "), "{line}");
    let mut without = report(2200.0, 850);
    without.strategies.retain(|s| s.name != "scheduler");
    assert_eq!(headline(&without), None);
}

#[test]
fn table_has_a_row_per_strategy_and_the_legend() {
    let table = render_table(&report(2200.0, 850), &DemoArgs::default());
    for name in ["naive", "barrier", "fifo", "scheduler"] {
        assert!(
            table
                .lines()
                .any(|l| l.starts_with(name) && l.contains(" 2000 ")),
            "no row for {name}: {table}"
        );
    }
    assert!(table.contains("scheduler: 0 duplicate downloads"));
    assert!(table.ends_with(LEGEND));
    for column in [
        "wall ms",
        "bound ms",
        "x bound",
        "requests",
        "duplicates",
        "MB sent",
        "demand wait ms",
        "cold",
    ] {
        assert!(
            LEGEND.lines().any(|l| l.trim_start().starts_with(column)),
            "the legend explains `{column}`"
        );
    }
}
