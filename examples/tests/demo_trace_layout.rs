//! The trace layout of `lockfetch::trace` on hand-written event sequences: slots are reused
//! lowest first, a promotion is marked where the job is, a retry ends its span, a cancelled job
//! closes its queue span, and what is still open when recording stopped ends there; and that the
//! result, and only a valid trace, passes the strict trace-event format check.

mod trace_format;

use std::time::Duration;

use fetch_scheduler::{EventKind, Priority};
use lockfetch::trace::{Stamped, Trace};
use serde_json::Value;

fn at(ms: u64, key: &str, kind: EventKind) -> Stamped {
    Stamped {
        at: Duration::from_millis(ms),
        key: key.to_string(),
        kind,
    }
}

fn events(trace: &Trace) -> Vec<Value> {
    trace.to_json()["traceEvents"].as_array().unwrap().clone()
}

fn spans(events: &[Value]) -> Vec<(String, u64, f64, f64, String)> {
    events
        .iter()
        .filter(|e| e["ph"] == "X")
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["tid"].as_u64().unwrap(),
                e["ts"].as_f64().unwrap() / 1000.0,
                e["dur"].as_f64().unwrap() / 1000.0,
                e["args"]["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn slots_promotions_retries_and_open_spans() {
    let trace = Trace {
        events: vec![
            at(0, "a", EventKind::Queued(Priority::prefetch(0))),
            at(0, "b", EventKind::Queued(Priority::prefetch(0))),
            at(0, "c", EventKind::Queued(Priority::prefetch(0))),
            at(0, "d", EventKind::Queued(Priority::prefetch(0))),
            at(1, "a", EventKind::Started { attempt: 1 }),
            at(1, "b", EventKind::Started { attempt: 1 }),
            // A demand promotes `c` while queued and `b` while running.
            at(2, "c", EventKind::Promoted(Priority::demand(0))),
            at(3, "b", EventKind::Promoted(Priority::demand(0))),
            at(4, "a", EventKind::Succeeded { attempt: 1 }),
            at(4, "c", EventKind::Started { attempt: 1 }),
            at(
                5,
                "b",
                EventKind::Retrying {
                    attempt: 1,
                    delay: Duration::from_millis(20),
                },
            ),
            at(6, "d", EventKind::Cancelled),
            at(7, "c", EventKind::Succeeded { attempt: 1 }),
            at(30, "b", EventKind::Started { attempt: 2 }),
        ],
        end: Duration::from_millis(40),
    };
    assert_eq!(trace.attempts(), 4);
    assert_eq!(trace.promotions(), 2);
    // Retries, cancels and spans still open all stay valid trace events.
    let phases = trace_format::check_trace_event_format(&trace.to_json());
    assert_eq!(
        (phases["X"], phases["b"], phases["e"], phases["i"]),
        (4, 4, 4, 2)
    );
    let events = events(&trace);
    let mut spans = spans(&events);
    spans.sort_by(|x, y| x.2.total_cmp(&y.2));
    let expected = [
        ("a", 1, 1.0, 3.0, "succeeded"),
        ("b", 2, 1.0, 4.0, "retrying after 20 ms"),
        // `a`'s slot 1 was the lowest free one.
        ("c", 1, 4.0, 3.0, "succeeded"),
        // Still running when recording stopped.
        ("b", 1, 30.0, 10.0, "open"),
    ];
    assert_eq!(spans.len(), expected.len(), "{spans:?}");
    for (got, want) in spans.iter().zip(expected) {
        assert_eq!(
            (got.0.as_str(), got.1, got.4.as_str()),
            (want.0, want.1, want.4),
            "{got:?}"
        );
        assert!(
            (got.2 - want.2).abs() < 1e-6 && (got.3 - want.3).abs() < 1e-6,
            "{got:?}"
        );
    }
    let marks: Vec<(String, u64)> = events
        .iter()
        .filter(|e| e["ph"] == "i")
        .map(|e| {
            (
                e["args"]["key"].as_str().unwrap().to_string(),
                e["tid"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        marks,
        [("c".to_string(), 0), ("b".to_string(), 2)],
        "queued on the queue track, running on its slot"
    );
    let queue_ends: Vec<&Value> = events.iter().filter(|e| e["ph"] == "e").collect();
    assert_eq!(queue_ends.len(), 4, "a, b, c started and d was cancelled");
    assert!(
        queue_ends
            .iter()
            .any(|e| e["name"] == "d" && e["args"]["cancelled"] == true)
    );
    let names: Vec<&str> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["queue", "slot 1", "slot 2"]);
}

/// The format check rejects what a trace viewer would: an unknown instant scope, an async end
/// without its begin, and two spans overlapping on one track.
#[test]
fn the_format_check_rejects_broken_traces() {
    let named = |tid: u64| serde_json::json!({"ph": "M", "name": "thread_name", "pid": 1, "tid": tid, "args": {"name": "slot"}});
    let broken = [
        serde_json::json!({"traceEvents": [{"ph": "i", "name": "promoted", "pid": 1, "tid": 0, "ts": 1.0, "s": "x"}]}),
        serde_json::json!({"traceEvents": [{"ph": "e", "name": "a", "cat": "queued", "id": 1, "pid": 1, "tid": 0, "ts": 1.0}]}),
        serde_json::json!({"traceEvents": [
            named(1),
            {"ph": "X", "name": "a", "pid": 1, "tid": 1, "ts": 0.0, "dur": 10.0},
            {"ph": "X", "name": "b", "pid": 1, "tid": 1, "ts": 5.0, "dur": 10.0},
        ]}),
        serde_json::json!({"traceEvents": [{"ph": "X", "name": "a", "pid": 1, "tid": 1, "ts": 0.0, "dur": 1.0}]}),
    ];
    for trace in broken {
        let checked = std::panic::catch_unwind(|| trace_format::check_trace_event_format(&trace));
        assert!(checked.is_err(), "accepted {trace}");
    }
    let fine = serde_json::json!({"traceEvents": [
        named(1),
        {"ph": "X", "name": "a", "pid": 1, "tid": 1, "ts": 0.0, "dur": 10.0},
        {"ph": "X", "name": "b", "pid": 1, "tid": 1, "ts": 2.0, "dur": 3.0},
        {"ph": "X", "name": "c", "pid": 1, "tid": 1, "ts": 10.0, "dur": 1.0},
    ]});
    assert_eq!(trace_format::check_trace_event_format(&fine)["X"], 3);
}
