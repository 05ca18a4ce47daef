//! Watching a scheduler's events.

use std::fmt;

use fetch_scheduler::{Event, EventKind, Events};

use crate::exec::Ctx;
use crate::subject::{Key, TestScheduler};

/// A subscription to a scheduler's events that keeps everything it has seen.
pub struct Recorder {
    events: Events<Key>,
    seen: Vec<Event<Key>>,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("seen", &self.seen.len())
            .finish()
    }
}

impl Recorder {
    /// Subscribes to `scheduler`'s events from now on.
    pub fn new(scheduler: &TestScheduler) -> Self {
        Recorder {
            events: scheduler.events(),
            seen: Vec::new(),
        }
    }

    /// Waits (at most [`STEP_TIMEOUT`](crate::STEP_TIMEOUT)) for the next event matching `pred`, keeping every event it
    /// reads; returns the match.
    pub async fn wait_for(
        &mut self,
        ctx: &Ctx,
        what: &str,
        mut pred: impl FnMut(&Event<Key>) -> bool,
    ) -> Event<Key> {
        use futures_lite::StreamExt;
        ctx.within(what, async {
            loop {
                let event = self.events.next().await.expect("the scheduler is alive");
                self.seen.push(event.clone());
                if pred(&event) {
                    return event;
                }
            }
        })
        .await
    }

    /// Resolves once `cond` holds, checking it now and again after every event (at most
    /// [`STEP_TIMEOUT`](crate::STEP_TIMEOUT) in all), keeping every event it reads.
    ///
    /// For facts every change of which sends an event and that are read under the scheduler lock,
    /// as [`stats`](fetch_scheduler::Scheduler::stats) and
    /// [`snapshot`](fetch_scheduler::Scheduler::snapshot) are: each event is sent under the lock
    /// in the same step as the change it announces, so the check after it sees that change.
    /// (Not for `peek`, which reads without the lock: it may run before a store write that the
    /// last event announced.)
    pub async fn until(&mut self, ctx: &Ctx, what: &str, mut cond: impl FnMut() -> bool) {
        use futures_lite::StreamExt;
        ctx.within(what, async {
            while !cond() {
                let event = self.events.next().await.expect("the scheduler is alive");
                self.seen.push(event);
            }
        })
        .await;
    }

    /// Every event so far (reads what is waiting without waiting).
    pub fn all(&mut self) -> &[Event<Key>] {
        self.seen.extend(collect_events(&self.events));
        &self.seen
    }

    /// The kinds of `key`'s events so far, without `Progress`.
    pub fn kinds(&mut self, key: Key) -> Vec<EventKind> {
        kinds_of(self.all(), key)
    }
}

/// Every event waiting in `events`, without waiting.
pub fn collect_events(events: &Events<Key>) -> Vec<Event<Key>> {
    std::iter::from_fn(|| events.try_next()).collect()
}

/// The kinds of `key`'s events, in order, without `Progress` reports.
pub fn kinds_of(events: &[Event<Key>], key: Key) -> Vec<EventKind> {
    events
        .iter()
        .filter(|e| e.key == key && !matches!(e.kind, EventKind::Progress { .. }))
        .map(|e| e.kind.clone())
        .collect()
}
