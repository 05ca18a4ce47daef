//! Progress on stderr with `indicatif`: an overall bar in bytes with packages done/total, rate
//! and ETA, and one row per running download with its full name as the width allows.
//!
//! Scheduler [`Event`]s only update counters ([`Progress::event`]); the screen is redrawn from
//! them by [`Progress::tick`], which [`Progress::run_ticker`] calls every [`TICK`]. Each tick
//! renders every line itself and hands them to one indicatif bar as its message, so each tick is
//! one redraw (indicatif also rate-limits it): at most ten a second, however many events arrive.
//!
//! The byte total grows as responses announce their `Content-Length`; downloads not started yet
//! count at the average size seen so far, so the ETA means something before every size is known.
//! A download gets its row once its response starts, never before. A hidden `Progress` does
//! nothing, so callers need not branch.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fetch_scheduler::{Event, EventKind, Events};
use futures_lite::StreamExt as _;
use indicatif::{DecimalBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::fetch::Request;

/// How often the screen is redrawn.
pub const TICK: Duration = Duration::from_millis(100);
/// The rate is measured over this much recent time.
const RATE_WINDOW: Duration = Duration::from_secs(3);

/// The bars of one run. Cheap to clone; a hidden one does nothing.
#[derive(Clone, Default)]
pub struct Progress {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    bar: ProgressBar,
    max_rows: usize,
    /// The terminal's width now (`None`: ask the terminal at each tick).
    width: Option<usize>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    packages: u64,
    done: u64,
    /// Bytes of finished downloads, and how many finished with a size.
    finished_bytes: u64,
    finished: u64,
    running: HashMap<Request, Row>,
    /// Recent `(time, bytes so far)` samples for the rate.
    samples: VecDeque<(Instant, u64)>,
}

struct Row {
    attempt: u32,
    bytes: u64,
    total: Option<u64>,
    /// Whether the response has started (only then is the row shown).
    started: bool,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("visible", &self.is_visible())
            .finish()
    }
}

impl Progress {
    /// Nothing is drawn.
    pub fn hidden() -> Self {
        Progress { inner: None }
    }

    /// Draws on stderr for `packages` downloads, at most `max_rows` download rows.
    pub fn new(packages: u64, max_rows: usize) -> Self {
        Progress::with_target(
            packages,
            max_rows,
            None,
            ProgressDrawTarget::stderr_with_hz(20),
        )
    }

    /// Draws to `target` at `width` columns (`None`: the terminal's width).
    pub fn with_target(
        packages: u64,
        max_rows: usize,
        width: Option<usize>,
        target: ProgressDrawTarget,
    ) -> Self {
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Progress {
            inner: Some(Arc::new(Inner {
                bar,
                max_rows,
                width,
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
                };
                state.running.insert(event.key.clone(), row);
            }
            EventKind::Progress { bytes, total } => {
                if let Some(row) = state.running.get_mut(&event.key) {
                    row.bytes = *bytes;
                    row.total = total.or(row.total);
                    row.started = true;
                }
            }
            EventKind::Retrying { .. } => {
                state.running.remove(&event.key);
            }
            EventKind::Succeeded { .. } | EventKind::Failed { .. } | EventKind::Cancelled => {
                if let Some(row) = state.running.remove(&event.key)
                    && matches!(event.kind, EventKind::Succeeded { .. })
                {
                    state.finished_bytes += row.bytes;
                    state.finished += 1;
                }
                state.done += 1;
            }
            _ => {}
        }
    }

    /// Redraws the screen from the recorded events: one redraw.
    pub fn tick(&self) {
        let Some(inner) = &self.inner else { return };
        let width = inner.width.unwrap_or_else(terminal_width).max(20);
        let text = {
            let mut state = inner.state.lock().unwrap_or_else(|e| e.into_inner());
            render(&mut state, Instant::now(), width, inner.max_rows)
        };
        inner.bar.set_message(text);
    }

    /// Applies every event of `events` until the stream ends (or the task is cancelled).
    pub async fn follow(self, mut events: Events<Request>) {
        while let Some(event) = events.next().await {
            self.event(&event);
        }
    }

    /// Calls [`tick`](Self::tick) every [`TICK`] until cancelled (waits forever otherwise).
    pub async fn run_ticker(self) {
        loop {
            smol::Timer::after(TICK).await;
            self.tick();
        }
    }

    /// Removes the bars from the terminal.
    pub fn finish(&self) {
        if let Some(inner) = &self.inner {
            inner.bar.finish_and_clear();
        }
    }
}

/// The lines of one frame.
fn render(state: &mut State, now: Instant, width: usize, max_rows: usize) -> String {
    let mut rows: Vec<(&Request, &Row)> = state.running.iter().filter(|(_, r)| r.started).collect();
    rows.sort_by(|a, b| a.0.package().cmp(b.0.package()));
    let running_bytes: u64 = state.running.values().map(|r| r.bytes).sum();
    let position = state.finished_bytes + running_bytes;
    let known: u64 = state.finished_bytes
        + state
            .running
            .values()
            .map(|r| r.total.unwrap_or(r.bytes))
            .sum::<u64>();
    // Downloads not started yet count at the average size seen so far.
    let sized =
        state.finished + state.running.values().filter(|r| r.total.is_some()).count() as u64;
    let sized_bytes =
        state.finished_bytes + state.running.values().filter_map(|r| r.total).sum::<u64>();
    let waiting = state
        .packages
        .saturating_sub(state.done + state.running.len() as u64);
    let total = match sized {
        0 => 0,
        n => known + sized_bytes / n * waiting,
    };

    state.samples.push_back((now, position));
    while state
        .samples
        .front()
        .is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW)
    {
        state.samples.pop_front();
    }
    let rate = match state.samples.front() {
        Some((t, b)) if now.duration_since(*t) >= Duration::from_millis(500) => {
            (position - b) as f64 / now.duration_since(*t).as_secs_f64()
        }
        _ => 0.0,
    };

    let mut out = String::new();
    let bar_width = 24;
    let _ = write!(
        out,
        "{} {}/{} {}/{} packages",
        bar(position, total, bar_width),
        DecimalBytes(position),
        if total > 0 {
            DecimalBytes(total).to_string()
        } else {
            "?".to_string()
        },
        state.done,
        state.packages
    );
    if rate > 0.0 {
        let _ = write!(out, " {}/s", DecimalBytes(rate as u64));
        if total > position {
            let eta = Duration::from_secs_f64((total - position) as f64 / rate);
            let _ = write!(out, " ETA {}", clock(eta));
        }
    } else {
        out.push_str(" ETA -");
    }
    let mut lines = vec![fit(&out, width)];
    for (request, row) in rows.iter().take(max_rows) {
        let mut name = request.package().to_string();
        if row.attempt > 1 {
            let _ = write!(name, " (try {})", row.attempt);
        }
        let head = format!(
            "  {:>9}/{:<9} {} ",
            DecimalBytes(row.bytes).to_string(),
            row.total
                .map_or("?".to_string(), |t| DecimalBytes(t).to_string()),
            bar(row.bytes, row.total.unwrap_or(0), 12)
        );
        lines.push(fit(&(head + &name), width));
    }
    if rows.len() > max_rows {
        lines.push(format!("  … and {} more", rows.len() - max_rows));
    }
    lines.join("\n")
}

/// `[=====>      ]`, empty when the total is unknown.
fn bar(done: u64, total: u64, width: usize) -> String {
    let filled = match total {
        0 => 0,
        t => ((done.min(t) as f64 / t as f64) * width as f64) as usize,
    };
    let mut s = String::with_capacity(width + 2);
    s.push('[');
    for i in 0..width {
        s.push(match i.cmp(&filled) {
            std::cmp::Ordering::Less => '=',
            std::cmp::Ordering::Equal if filled > 0 => '>',
            _ => ' ',
        });
    }
    s.push(']');
    s
}

/// `m:ss` or `h:mm:ss`.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// `line` cut to `width - 1` characters (the last column left free so nothing wraps), with `…`.
fn fit(line: &str, width: usize) -> String {
    let max = width.saturating_sub(1);
    if line.chars().count() <= max {
        return line.to_string();
    }
    let mut s: String = line.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

fn terminal_width() -> usize {
    console::Term::stderr()
        .size_checked()
        .map_or(80, |(_, cols)| usize::from(cols))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(name: &str) -> Request {
        Request::new(name, format!("http://127.0.0.1:1/{name}.tgz"), None, None)
    }

    fn event(key: &Request, kind: EventKind) -> Event<Request> {
        Event {
            key: key.clone(),
            kind,
        }
    }

    #[test]
    fn rows_appear_when_responses_start_and_totals_grow() {
        let p = Progress::with_target(3, 8, Some(100), ProgressDrawTarget::hidden());
        let a = request("@scope/a-rather-long-package-name@1.0.0");
        let b = request("b@2.0.0");
        p.event(&event(&a, EventKind::Started { attempt: 1 }));
        p.event(&event(&b, EventKind::Started { attempt: 2 }));
        let inner = p.inner.as_ref().unwrap();
        let frame = |at: Instant, width| {
            render(&mut inner.state.lock().unwrap(), at, width, inner.max_rows)
        };
        let t0 = Instant::now();
        let first = frame(t0, 100);
        assert_eq!(
            first.lines().count(),
            1,
            "no rows before a response: {first}"
        );
        assert!(first.contains("0 B/? 0/3 packages"), "{first}");

        p.event(&event(
            &a,
            EventKind::Progress {
                bytes: 1_000,
                total: Some(4_000),
            },
        ));
        p.event(&event(
            &b,
            EventKind::Progress {
                bytes: 500,
                total: None,
            },
        ));
        let second = frame(t0 + Duration::from_secs(1), 100);
        let lines: Vec<&str> = second.lines().collect();
        assert_eq!(lines.len(), 3, "{second}");
        assert!(
            lines[1].ends_with("@scope/a-rather-long-package-name@1.0.0"),
            "{second}"
        );
        assert!(lines[2].ends_with("b@2.0.0 (try 2)"), "{second}");
        // Known: 4 kB for a, 500 B so far for b; the third package counted at the average.
        assert!(
            lines[0].contains("1.50 kB/8.50 kB 0/3 packages"),
            "{second}"
        );
        assert!(lines[0].contains("ETA"), "{second}");

        // Narrow terminal: names are cut, nothing wraps.
        for line in frame(t0 + Duration::from_secs(1), 40).lines() {
            assert!(line.chars().count() < 40, "{line}");
        }

        p.event(&event(&a, EventKind::Succeeded { attempt: 1 }));
        let third = frame(t0 + Duration::from_secs(2), 100);
        assert_eq!(third.lines().count(), 2, "{third}");
        assert!(third.contains("1/3 packages"), "{third}");
    }

    #[test]
    fn formats() {
        assert_eq!(bar(0, 0, 4), "[    ]");
        assert_eq!(bar(1, 2, 4), "[==> ]");
        assert_eq!(bar(2, 2, 4), "[====]");
        assert_eq!(clock(Duration::from_secs(75)), "1:15");
        assert_eq!(clock(Duration::from_secs(3725)), "1:02:05");
        assert_eq!(fit("abcdef", 5), "abc…");
    }
}
