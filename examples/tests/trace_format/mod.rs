//! A strict check of Chrome trace-event JSON against the Trace Event Format, as Perfetto,
//! `chrome://tracing` and the DevTools Performance panel read it: the fields and types of every
//! event, async begin/end pairs, instant scopes, metadata, and spans that stack on their track.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

/// Panics, naming the event, at the first thing in `trace` a trace viewer would reject or
/// misdraw; returns how many events of each phase it holds.
pub fn check_trace_event_format(trace: &Value) -> BTreeMap<String, usize> {
    let object = trace.as_object().expect("a trace is a JSON object");
    for key in object.keys() {
        assert!(
            ["traceEvents", "displayTimeUnit", "otherData"].contains(&key.as_str()),
            "unknown top-level key `{key}`"
        );
    }
    if let Some(unit) = object.get("displayTimeUnit") {
        assert!(unit == "ms" || unit == "ns", "displayTimeUnit {unit}");
    }
    let events = trace["traceEvents"]
        .as_array()
        .expect("traceEvents is an array");
    let mut phases = BTreeMap::new();
    let mut open: HashMap<(String, u64, String), Vec<f64>> = HashMap::new();
    let mut spans: HashMap<(u64, u64), Vec<(f64, f64)>> = HashMap::new();
    let mut named_threads = HashSet::new();
    for (i, e) in events.iter().enumerate() {
        let ph = e["ph"]
            .as_str()
            .unwrap_or_else(|| panic!("event {i} has no ph: {e}"));
        *phases.entry(ph.to_string()).or_insert(0) += 1;
        assert!(
            e["name"].as_str().is_some_and(|n| !n.is_empty()),
            "event {i} has no name: {e}"
        );
        let pid = e["pid"]
            .as_u64()
            .unwrap_or_else(|| panic!("event {i}: pid: {e}"));
        let tid = e.get("tid").map(|t| {
            t.as_u64()
                .unwrap_or_else(|| panic!("event {i}: tid is not an integer: {e}"))
        });
        if let Some(args) = e.get("args") {
            assert!(args.is_object(), "event {i}: args is not an object: {e}");
        }
        if let Some(cat) = e.get("cat") {
            assert!(cat.is_string(), "event {i}: cat is not a string: {e}");
        }
        if ph == "M" {
            let name = e["name"].as_str().unwrap();
            match name {
                "process_name" | "thread_name" => {
                    assert!(e["args"]["name"].is_string(), "event {i}: {e}");
                }
                "process_sort_index" | "thread_sort_index" => {
                    assert!(e["args"]["sort_index"].is_i64(), "event {i}: {e}");
                }
                _ => panic!("event {i}: unknown metadata `{name}`: {e}"),
            }
            if name.starts_with("thread") {
                let tid = tid.unwrap_or_else(|| panic!("event {i}: thread metadata without tid"));
                if name == "thread_name" {
                    named_threads.insert((pid, tid));
                }
            }
            continue;
        }
        let tid = tid.unwrap_or_else(|| panic!("event {i} has no tid: {e}"));
        let ts = e["ts"]
            .as_f64()
            .unwrap_or_else(|| panic!("event {i}: ts: {e}"));
        assert!(ts >= 0.0, "event {i}: ts before the trace starts: {e}");
        match ph {
            "X" => {
                let dur = e["dur"]
                    .as_f64()
                    .unwrap_or_else(|| panic!("event {i}: dur: {e}"));
                assert!(dur >= 0.0, "event {i}: negative dur: {e}");
                spans.entry((pid, tid)).or_default().push((ts, ts + dur));
            }
            "i" | "I" => {
                let scope = e.get("s").map_or(Some("t"), Value::as_str);
                assert!(
                    matches!(scope, Some("g" | "p" | "t")),
                    "event {i}: instant scope must be g, p or t: {e}"
                );
            }
            "b" | "e" => {
                let cat = e["cat"]
                    .as_str()
                    .unwrap_or_else(|| panic!("event {i}: async without cat: {e}"));
                let id = e["id"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("event {i}: async without id: {e}"));
                let key = (cat.to_string(), id, e["name"].as_str().unwrap().to_string());
                if ph == "b" {
                    open.entry(key).or_default().push(ts);
                } else {
                    let begun = open
                        .get_mut(&key)
                        .and_then(Vec::pop)
                        .unwrap_or_else(|| panic!("event {i}: `e` without its `b`: {e}"));
                    assert!(ts >= begun, "event {i}: async span ends before it begins");
                }
            }
            _ => panic!("event {i}: phase `{ph}` is not one this trace writes: {e}"),
        }
    }
    let unclosed: usize = open.values().map(Vec::len).sum();
    assert_eq!(unclosed, 0, "async spans begun and never ended");
    for (track, spans) in &mut spans {
        assert!(
            named_threads.contains(track),
            "track {track:?} has no thread_name"
        );
        // Complete events on one track are drawn as a stack: each nests in or follows the last.
        spans.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
        let mut stack: Vec<f64> = Vec::new();
        for &(start, end) in spans.iter() {
            while stack.last().is_some_and(|&top| top <= start) {
                stack.pop();
            }
            if let Some(&top) = stack.last() {
                assert!(end <= top, "track {track:?}: spans overlap without nesting");
            }
            stack.push(end);
        }
    }
    phases
}
