//! Chrome trace-event JSON of a scheduler's downloads, to open in Perfetto, in the Performance
//! panel of Chrome's DevTools ("Load profile"; it draws the slot tracks, not the queue track or the
//! marks), or in `chrome://tracing` where a Chrome still has it.
//!
//! A [`TraceRecorder`] subscribes to [`Scheduler::events`] and stamps each event as it arrives, on
//! a thread of its own (so the stamps do not wait for a busy executor). [`TraceRecorder::finish`]
//! stops it and gives the [`Trace`], whose [`Trace::to_json`] lays the events out as:
//!
//! - one track per download slot (`slot 1`, `slot 2`, …): a span per attempt, from `Started` to
//!   `Succeeded`, `Failed` or `Retrying`, named after the key, with the attempt, the outcome and
//!   the time it waited in the queue as arguments. The events do not name slots: an attempt takes
//!   the lowest-numbered slot free when it starts, which is how many run at once, not which
//!   connection carried it;
//! - a `queue` track: one async span per queued job, from `Queued` to `Started` or `Cancelled`;
//! - instant marks named `promoted` (and `demoted`) when a demand raises a prefetch (or its last
//!   demand waiter leaves): on the job's slot track if it is running, else on the `queue` track.
//!
//! Spans still open when the recorder stops end there, marked `"open": true`.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fetch_scheduler::{Event, EventKind, Events, FailCause, Scheduler};
use futures_lite::{StreamExt as _, future};
use serde_json::{Value, json};

/// Records a scheduler's events with the time each arrived; see the [module docs](self).
#[derive(Debug)]
pub struct TraceRecorder<K> {
    origin: Instant,
    stop: async_channel::Sender<()>,
    thread: JoinHandle<Vec<(Duration, Event<K>)>>,
}

impl<K: Send + 'static> TraceRecorder<K> {
    /// Subscribes to `scheduler`'s events from now on; times count from now.
    pub fn start<V, E>(scheduler: &Scheduler<K, V, E>) -> TraceRecorder<K>
    where
        K: Clone + Eq + std::hash::Hash + Sync,
        V: Clone + Send + Sync + 'static,
        E: Send + Sync + 'static,
    {
        let events = scheduler.events();
        let origin = Instant::now();
        let (stop, stopped) = async_channel::bounded(1);
        let thread = std::thread::spawn(move || record(events, stopped, origin));
        TraceRecorder {
            origin,
            stop,
            thread,
        }
    }

    /// Stops recording (events sent before this call are kept) and names each key with `label`.
    pub fn finish(self, label: impl Fn(&K) -> String) -> Trace {
        let end = self.origin.elapsed();
        drop(self.stop);
        let events = self.thread.join().unwrap_or_default();
        Trace {
            events: events
                .into_iter()
                .map(|(at, event)| Stamped {
                    at,
                    key: label(&event.key),
                    kind: event.kind,
                })
                .collect(),
            end,
        }
    }
}

/// The recorder thread: stamps every event until `stopped` closes, then takes what is left.
fn record<K>(
    mut events: Events<K>,
    stopped: async_channel::Receiver<()>,
    origin: Instant,
) -> Vec<(Duration, Event<K>)> {
    let mut out = Vec::new();
    loop {
        let next = smol::block_on(future::or(events.next(), async {
            let _ = stopped.recv().await;
            None
        }));
        match next {
            Some(event) => out.push((origin.elapsed(), event)),
            None => break,
        }
    }
    while let Some(event) = events.try_next() {
        out.push((origin.elapsed(), event));
    }
    out
}

/// One recorded event: when it arrived, the key's label, and what happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Stamped {
    /// Time since the recorder started.
    pub at: Duration,
    /// The key, as labelled by [`TraceRecorder::finish`].
    pub key: String,
    /// What happened.
    pub kind: EventKind,
}

/// A finished recording; see the [module docs](self) for its layout as a trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Every event, in the order the scheduler sent them.
    pub events: Vec<Stamped>,
    /// When the recorder stopped.
    pub end: Duration,
}

/// The track of the queue; slot `n` (from 1) is track `n`.
const QUEUE_TRACK: usize = 0;

/// What the layout knows of one key.
#[derive(Default)]
struct KeyState {
    /// The open queue span: its id and when it began.
    queued: Option<(u64, Duration)>,
    /// The running attempt: when it started, its slot, its attempt, how long it was queued.
    running: Option<(Duration, usize, u32, Duration)>,
}

impl Trace {
    /// Attempts recorded (one span each on the slot tracks).
    pub fn attempts(&self) -> usize {
        self.count(|k| matches!(k, EventKind::Started { .. }))
    }

    /// Promotions recorded.
    pub fn promotions(&self) -> usize {
        self.count(|k| matches!(k, EventKind::Promoted(_)))
    }

    fn count(&self, f: impl Fn(&EventKind) -> bool) -> usize {
        self.events.iter().filter(|e| f(&e.kind)).count()
    }

    /// The trace as Chrome trace-event JSON: `{"traceEvents": [...], "displayTimeUnit": "ms"}`.
    pub fn to_json(&self) -> Value {
        let mut out = Vec::new();
        let mut keys: HashMap<&str, KeyState> = HashMap::new();
        let mut free = BTreeSet::new();
        let mut slots = 0;
        let mut next_id = 0;
        for e in &self.events {
            let state = keys.entry(e.key.as_str()).or_default();
            match &e.kind {
                EventKind::Queued(priority) => {
                    next_id += 1;
                    state.queued = Some((next_id, e.at));
                    out.push(
                        json!({"ph": "b", "cat": "queued", "name": e.key, "id": next_id,
                        "pid": 1, "tid": QUEUE_TRACK, "ts": us(e.at),
                        "args": {"priority": priority.to_string()}}),
                    );
                }
                EventKind::Started { attempt } => {
                    let waited = end_queued(&mut out, state, e, json!({}));
                    let slot = free.pop_first().unwrap_or_else(|| {
                        slots += 1;
                        slots
                    });
                    state.running = Some((e.at, slot, *attempt, waited));
                }
                EventKind::Succeeded { .. } => {
                    end_running(&mut out, state, &mut free, e, "succeeded");
                }
                EventKind::Failed { cause, .. } => {
                    let outcome = match cause {
                        FailCause::Panicked => "panicked",
                        FailCause::Aborted => "aborted",
                        _ => "failed",
                    };
                    end_running(&mut out, state, &mut free, e, outcome);
                }
                EventKind::Retrying { delay, .. } => {
                    let outcome = format!("retrying after {} ms", delay.as_millis());
                    end_running(&mut out, state, &mut free, e, &outcome);
                }
                EventKind::Cancelled => {
                    end_queued(&mut out, state, e, json!({"cancelled": true}));
                }
                EventKind::Promoted(priority) | EventKind::Demoted(priority) => {
                    let name = match e.kind {
                        EventKind::Promoted(_) => "promoted",
                        _ => "demoted",
                    };
                    let track = state.running.map_or(QUEUE_TRACK, |(_, slot, ..)| slot);
                    out.push(json!({"ph": "i", "s": "t", "name": name, "cat": "priority",
                        "pid": 1, "tid": track, "ts": us(e.at),
                        "args": {"key": e.key, "priority": priority.to_string()}}));
                }
                // Joins, progress, and kinds added later draw nothing.
                _ => {}
            }
        }
        // Whatever is still open ends when the recording did.
        let end = Stamped {
            at: self.end,
            key: String::new(),
            kind: EventKind::Cancelled,
        };
        for (key, mut state) in keys {
            let end = Stamped {
                key: key.to_string(),
                ..end.clone()
            };
            end_queued(&mut out, &mut state, &end, json!({"open": true}));
            end_running(&mut out, &mut state, &mut free, &end, "open");
        }
        let mut meta = vec![
            json!({"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "downloads"}}),
            json!({"ph": "M", "name": "thread_name", "pid": 1, "tid": QUEUE_TRACK,
                "args": {"name": "queue"}}),
        ];
        for slot in 1..=slots {
            meta.push(
                json!({"ph": "M", "name": "thread_name", "pid": 1, "tid": slot,
                "args": {"name": format!("slot {slot}")}}),
            );
            meta.push(
                json!({"ph": "M", "name": "thread_sort_index", "pid": 1, "tid": slot,
                "args": {"sort_index": slot}}),
            );
        }
        meta.extend(out);
        json!({"traceEvents": meta, "displayTimeUnit": "ms"})
    }

    /// Writes [`Trace::to_json`] to `path`, whole or not at all (see
    /// [`crate::output::write_whole`]).
    pub fn write(&self, path: &Path) -> Result<(), String> {
        crate::output::write_whole(path, self.to_json().to_string().as_bytes())
    }
}

/// Ends `state`'s queue span at `e` with `args`; returns how long it was queued (0 if it was not).
fn end_queued(out: &mut Vec<Value>, state: &mut KeyState, e: &Stamped, args: Value) -> Duration {
    let Some((id, since)) = state.queued.take() else {
        return Duration::ZERO;
    };
    out.push(
        json!({"ph": "e", "cat": "queued", "name": e.key, "id": id, "pid": 1,
        "tid": QUEUE_TRACK, "ts": us(e.at), "args": args}),
    );
    e.at.saturating_sub(since)
}

/// Ends `state`'s running attempt at `e` with `outcome`, as a span on its slot's track.
fn end_running(
    out: &mut Vec<Value>,
    state: &mut KeyState,
    free: &mut BTreeSet<usize>,
    e: &Stamped,
    outcome: &str,
) {
    let Some((start, slot, attempt, waited)) = state.running.take() else {
        return;
    };
    free.insert(slot);
    out.push(
        json!({"ph": "X", "cat": "download", "name": e.key, "pid": 1, "tid": slot,
        "ts": us(start), "dur": us(e.at.saturating_sub(start)),
        "args": {"attempt": attempt, "outcome": outcome, "queued_ms": waited.as_secs_f64() * 1e3}}),
    );
}

/// Microseconds, the unit of trace-event timestamps.
fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
