//! `lockfetch demo --rounds N`: the strategies take turns, each is reported by its run of median
//! wall time with every run's wall time beside it, and a single round keeps the documented JSON.
//! The simulated run is small and on loopback, under a deadline.

use lockfetch::demo::rounds::{median_run, turn_order};
use lockfetch::demo::{self, DemoArgs, render_table};
use lockfetch::sim::StrategyReport;

mod demo_support;
use demo_support::{strategy, with_timeout};

fn run(wall_ms: f64, requests: u64) -> StrategyReport {
    strategy("fifo", wall_ms, 100.0, requests, 0)
}

#[test]
fn every_strategy_takes_every_place_in_turn() {
    assert_eq!(turn_order(4, 0), [0, 1, 2, 3]);
    assert_eq!(turn_order(4, 1), [1, 2, 3, 0]);
    assert_eq!(turn_order(2, 1), [1, 0]);
    assert_eq!(turn_order(2, 2), [0, 1]);
    for round in 0..4 {
        let mut order = turn_order(4, round);
        assert_eq!(
            order[0], round,
            "round {round} starts with strategy {round}"
        );
        order.sort_unstable();
        assert_eq!(order, [0, 1, 2, 3], "round {round} runs each strategy once");
    }
    assert!(turn_order(0, 3).is_empty());
}

#[test]
fn the_median_run_is_reported_whole_with_every_wall_time() {
    // The requests tell the runs apart: the reported run's other figures are its own.
    let median = median_run(vec![run(900.0, 1), run(700.0, 2), run(800.0, 3)]).unwrap();
    assert_eq!((median.wall_ms, median.requests), (800.0, 3));
    assert_eq!(median.wall_ms_rounds, [900.0, 700.0, 800.0]);

    // An even count takes the lower of the two middle runs.
    let median = median_run(vec![run(900.0, 1), run(700.0, 2)]).unwrap();
    assert_eq!((median.wall_ms, median.requests), (700.0, 2));

    // One run stays as it was: no list of rounds, so the JSON keeps its documented fields.
    let single = median_run(vec![run(900.0, 1)]).unwrap();
    assert_eq!(single, run(900.0, 1));
    let json = serde_json::to_value(&single).unwrap();
    assert!(json.get("wall_ms_rounds").is_none(), "{json}");

    assert!(median_run(Vec::new()).is_none());
}

#[test]
fn a_demo_of_three_rounds_reports_each_run() {
    let args = DemoArgs {
        packages: 40,
        rtt_ms: 2,
        index_lag_ms: 20,
        rounds: 3,
        strategies: vec!["fifo".into(), "scheduler".into()],
        ..DemoArgs::default()
    };
    let table_args = args.clone();
    let report = with_timeout(60, move || demo::simulate(&args)).expect("the demo runs");
    let names: Vec<&str> = report.strategies.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["fifo", "scheduler"]);
    for s in &report.strategies {
        assert_eq!(s.wall_ms_rounds.len(), 3, "{s:?}");
        let mut walls = s.wall_ms_rounds.clone();
        walls.sort_by(f64::total_cmp);
        assert_eq!(s.wall_ms, walls[1], "{}: the median run is shown", s.name);
        let json = serde_json::to_value(s).unwrap();
        assert_eq!(json["wall_ms_rounds"].as_array().map(Vec::len), Some(3));
    }
    let table = render_table(&report, &table_args);
    assert!(
        table.contains("each strategy ran 3 times, taking turns"),
        "{table}"
    );
    assert!(table.contains("wall ms of every run, in order:"), "{table}");

    let zero = DemoArgs {
        rounds: 0,
        ..DemoArgs::default()
    };
    assert_eq!(
        demo::simulate(&zero).unwrap_err(),
        "--rounds must be at least 1"
    );
}
