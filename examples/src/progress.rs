//! Progress bars on stderr with `indicatif`: one per running download (bytes), one overall
//! (packages). Fed from the scheduler's [`Events`]; invisible when hidden, so callers need not
//! branch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use fetch_scheduler::{Event, EventKind, Events};
use futures_lite::StreamExt as _;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bars of one run. Cheap to clone; a hidden one does nothing.
#[derive(Clone, Default)]
pub struct Progress {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    multi: MultiProgress,
    overall: ProgressBar,
    downloads: Mutex<HashMap<String, ProgressBar>>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("visible", &self.is_visible())
            .finish()
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

impl Progress {
    /// Nothing is drawn.
    pub fn hidden() -> Self {
        Progress { inner: None }
    }

    /// Bars on stderr for `jobs` downloads (indicatif draws nothing if stderr is not a terminal).
    pub fn new(jobs: u64) -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = multi.add(ProgressBar::new(jobs));
        overall.set_style(style(
            "{prefix:>12} [{bar:40}] {pos}/{len} packages, {elapsed}",
        ));
        overall.set_prefix("fetching");
        Progress {
            inner: Some(Arc::new(Inner {
                multi,
                overall,
                downloads: Mutex::new(HashMap::new()),
            })),
        }
    }

    /// Whether anything is drawn.
    pub fn is_visible(&self) -> bool {
        self.inner.is_some()
    }

    /// Updates the bars for one scheduler event.
    pub fn event(&self, event: &Event<String>) {
        let Some(inner) = &self.inner else { return };
        let mut downloads = inner.downloads.lock().unwrap_or_else(|e| e.into_inner());
        match &event.kind {
            EventKind::Started { attempt } => {
                let bar = inner.multi.add(ProgressBar::no_length());
                bar.set_style(style(
                    "{msg:>40!} [{bar:25}] {bytes}/{total_bytes} {bytes_per_sec}",
                ));
                let msg = match attempt {
                    1 => event.key.clone(),
                    n => format!("{} (try {n})", event.key),
                };
                bar.set_message(msg);
                if let Some(old) = downloads.insert(event.key.clone(), bar) {
                    old.finish_and_clear();
                }
            }
            EventKind::Progress { bytes, total } => {
                if let Some(bar) = downloads.get(&event.key) {
                    if let Some(total) = total {
                        bar.set_length(*total);
                    }
                    bar.set_position(*bytes);
                }
            }
            EventKind::Retrying { .. } => {
                if let Some(bar) = downloads.remove(&event.key) {
                    bar.finish_and_clear();
                }
            }
            EventKind::Succeeded { .. } | EventKind::Failed { .. } | EventKind::Cancelled => {
                if let Some(bar) = downloads.remove(&event.key) {
                    bar.finish_and_clear();
                }
                inner.overall.inc(1);
            }
            _ => {}
        }
    }

    /// Applies every event of `events` until the stream ends (or the task is cancelled).
    pub async fn follow(self, mut events: Events<String>) {
        while let Some(event) = events.next().await {
            self.event(&event);
        }
    }

    /// Removes every bar.
    pub fn finish(&self) {
        let Some(inner) = &self.inner else { return };
        let mut downloads = inner.downloads.lock().unwrap_or_else(|e| e.into_inner());
        for (_, bar) in downloads.drain() {
            bar.finish_and_clear();
        }
        inner.overall.finish_and_clear();
    }
}
