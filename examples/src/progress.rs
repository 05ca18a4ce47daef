//! Progress on stderr with `indicatif`: an overall bar in bytes with packages done/total, rate
//! and ETA, and one row per running download.
//!
//! Scheduler [`Event`]s only update counters ([`Progress::event`]); the bars are redrawn from them
//! by [`Progress::tick`], ten times a second at most (see [`Progress::run_ticker`]), so a burst
//! of events never floods the terminal. The byte total grows as responses announce their
//! `Content-Length`; downloads not started yet count at the average size seen so far, so the ETA
//! holds before every size is known. A download gets its row when its response starts, never
//! before. A hidden `Progress` does nothing, so callers need not branch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fetch_scheduler::{Event, EventKind, Events};
use futures_lite::StreamExt as _;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::fetch::Request;

/// How often the bars are redrawn.
pub const TICK: Duration = Duration::from_millis(100);

/// The bars of one run. Cheap to clone; a hidden one does nothing.
#[derive(Clone, Default)]
pub struct Progress {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    multi: MultiProgress,
    overall: ProgressBar,
    max_rows: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    packages: u64,
    done: u64,
    /// Bytes of finished downloads.
    finished_bytes: u64,
    /// Finished downloads (for the average size).
    finished: u64,
    running: HashMap<Request, Row>,
}

struct Row {
    attempt: u32,
    bytes: u64,
    total: Option<u64>,
    started: bool,
    bar: Option<ProgressBar>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("visible", &self.is_visible())
            .finish()
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl Progress {
    /// Nothing is drawn.
    pub fn hidden() -> Self {
        Progress { inner: None }
    }

    /// Bars on stderr for `packages` downloads, at most `max_rows` download rows.
    pub fn new(packages: u64, max_rows: usize) -> Self {
        Progress::with_target(packages, max_rows, ProgressDrawTarget::stderr_with_hz(20))
    }

    /// Bars drawn to `target` (tests draw into a hidden or in-memory target).
    pub fn with_target(packages: u64, max_rows: usize, target: ProgressDrawTarget) -> Self {
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(style(
            "{bar:30} {bytes}/{total_bytes} {msg} {binary_bytes_per_sec} ETA {eta}",
        ));
        overall.set_message(format!("0/{packages} packages"));
        Progress {
            inner: Some(Arc::new(Inner {
                multi,
                overall,
                max_rows,
                state: Mutex::new(State {
                    packages,
                    ..State::default()
                }),
            })),
        }
    }

    /// Whether anything is drawn.
    pub fn is_visible(&self) -> bool {
        self.inner.is_some()
    }

    /// Records one scheduler event (drawn at the next [`tick`](Self::tick)).
    pub fn event(&self, event: &Event<Request>) {
        let Some(inner) = &self.inner else { return };
        let mut state = inner.state.lock().unwrap_or_else(|e| e.into_inner());
        match &event.kind {
            EventKind::Started { attempt } => {
                let row = Row {
                    attempt: *attempt,
                    bytes: 0,
                    total: None,
                    started: false,
                    bar: None,
                };
                if let Some(old) = state.running.insert(event.key.clone(), row) {
                    clear(&inner.multi, old.bar);
                }
            }
            EventKind::Progress { bytes, total } => {
                if let Some(row) = state.running.get_mut(&event.key) {
                    row.bytes = *bytes;
                    row.total = total.or(row.total);
                    row.started = true;
                }
            }
            EventKind::Retrying { .. } => {
                if let Some(row) = state.running.remove(&event.key) {
                    clear(&inner.multi, row.bar);
                }
            }
            EventKind::Succeeded { .. } | EventKind::Failed { .. } | EventKind::Cancelled => {
                if let Some(row) = state.running.remove(&event.key) {
                    if matches!(event.kind, EventKind::Succeeded { .. }) {
                        state.finished_bytes += row.bytes;
                        state.finished += 1;
                    }
                    clear(&inner.multi, row.bar);
                }
                state.done += 1;
            }
            EventKind::Queued(_)
            | EventKind::Joined(_)
            | EventKind::Promoted(_)
            | EventKind::Demoted(_) => {}
        }
    }

    /// Redraws the bars from the recorded events.
    pub fn tick(&self) {
        let Some(inner) = &self.inner else { return };
        let mut state = inner.state.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut *state;
        let mut position = state.finished_bytes;
        let mut known = state.finished_bytes;
        let mut rows = state.running.values().filter(|r| r.bar.is_some()).count();
        let mut names: Vec<Request> = state.running.keys().cloned().collect();
        names.sort_by(|a, b| a.package().cmp(b.package()));
        for key in &names {
            let Some(row) = state.running.get(key) else {
                continue;
            };
            position += row.bytes;
            known += row.total.unwrap_or(row.bytes);
            let wants_bar = row.started && row.bar.is_none() && rows < inner.max_rows;
            if wants_bar {
                rows += 1;
            }
            let row = state.running.get_mut(key).expect("present");
            if wants_bar {
                let bar = inner.multi.add(ProgressBar::new(row.total.unwrap_or(0)));
                bar.set_style(style("  {bytes:>10}/{total_bytes:<10} {bar:20} {wide_msg}"));
                bar.set_message(match row.attempt {
                    1 => key.package().to_string(),
                    n => format!("{} (try {n})", key.package()),
                });
                row.bar = Some(bar);
            }
            if let Some(bar) = &row.bar {
                if let Some(total) = row.total {
                    bar.set_length(total);
                }
                bar.set_position(row.bytes);
            }
        }
        // Downloads not started yet count at the average size seen so far.
        let sized =
            state.finished + state.running.values().filter(|r| r.total.is_some()).count() as u64;
        let waiting = state
            .packages
            .saturating_sub(state.done + state.running.len() as u64);
        let estimate = match sized {
            0 => 0,
            n => known / n * waiting,
        };
        inner.overall.set_length(known + estimate);
        inner.overall.set_position(position);
        let more = state
            .running
            .values()
            .filter(|r| r.bar.is_none() && r.started)
            .count();
        let mut msg = format!("{}/{} packages", state.done, state.packages);
        if more > 0 {
            msg.push_str(&format!(" (+{more} running)"));
        }
        inner.overall.set_message(msg);
    }

    /// Applies every event of `events` until the stream ends (or the task is cancelled).
    pub async fn follow(self, mut events: Events<Request>) {
        while let Some(event) = events.next().await {
            self.event(&event);
        }
    }

    /// Calls [`tick`](Self::tick) every [`TICK`] until cancelled.
    pub async fn run_ticker(self) {
        loop {
            smol::Timer::after(TICK).await;
            self.tick();
        }
    }

    /// Removes every bar from the terminal.
    pub fn finish(&self) {
        let Some(inner) = &self.inner else { return };
        let mut state = inner.state.lock().unwrap_or_else(|e| e.into_inner());
        for (_, row) in state.running.drain() {
            clear(&inner.multi, row.bar);
        }
        inner.overall.finish_and_clear();
        let _ = inner.multi.clear();
    }
}

fn clear(multi: &MultiProgress, bar: Option<ProgressBar>) {
    if let Some(bar) = bar {
        bar.finish_and_clear();
        multi.remove(&bar);
    }
}
