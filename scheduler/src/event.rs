//! Observation: one event per happening, delivered to every subscriber.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::Stream;

use crate::priority::Priority;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;

/// Something that happened to a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event<K> {
    /// The key it happened to.
    pub key: K,
    /// What happened.
    pub kind: EventKind,
}

/// What happened. Each happening sends exactly one event, under the scheduler lock, so the events
/// of one key arrive in the order of its transitions (`Progress` excepted: the attempt sends it).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// A new job was queued at this priority.
    Queued(Priority),
    /// A request joined a job already in flight without raising its class.
    Joined(Priority),
    /// A demand raised the job from `Prefetch` to `Demand` (queued or running).
    Promoted(Priority),
    /// The last demand waiter left; the job fell back to `Prefetch` priority.
    Demoted(Priority),
    /// Attempt number `attempt` got a slot and started.
    Started {
        /// 1-based attempt number.
        attempt: u32,
    },
    /// A slot was free but the job at the head of the queue did not fit in the byte budget: it
    /// waits, and nothing queued behind it starts, until running jobs give back bytes. Sent at
    /// most once per attempt.
    WaitingForBytes {
        /// The weight the job starts at.
        weight: u64,
        /// Bytes running jobs held when it had to wait.
        held: u64,
    },
    /// The fetcher reported progress.
    Progress {
        /// Bytes so far.
        bytes: u64,
        /// Total bytes, if known.
        total: Option<u64>,
    },
    /// Attempt `attempt` failed transiently; the next starts after `delay`.
    Retrying {
        /// The attempt that failed.
        attempt: u32,
        /// The backoff before the job queues again.
        delay: Duration,
    },
    /// The job succeeded on attempt `attempt`; the value is kept.
    Succeeded {
        /// The attempt that succeeded.
        attempt: u32,
    },
    /// The job ended without a value; its waiters got the error.
    Failed {
        /// The last attempt started (0 if the job failed before its first attempt started).
        attempt: u32,
        /// Why.
        cause: FailCause,
    },
    /// The job left the queue without finishing: cancelled, dropped by `close`, or nobody wanted it
    /// any more.
    Cancelled,
}

/// Why a job ended without a value, in [`EventKind::Failed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailCause {
    /// The fetcher's error was classified [`Permanent`](crate::ErrorClass::Permanent): it is kept
    /// and returned to later requests until [`forget`](crate::Scheduler::forget).
    Permanent,
    /// The fetcher's error was transient and no retry followed (the last attempt, nobody
    /// interested any more, or closed): the key is absent again.
    Transient,
    /// The fetcher panicked ([`Error::Panicked`](crate::Error::Panicked)); the key is absent again.
    Panicked,
    /// The job's task was dropped unfinished, or the job could not start because the runtime is
    /// gone ([`Error::Aborted`](crate::Error::Aborted)); the key is absent again.
    Aborted,
}

/// A stream of every [`Event`] from the moment it was created; from
/// [`Scheduler::events`](crate::Scheduler::events).
///
/// Unbounded: a subscriber that stops reading makes events pile up, so drop it when done. The
/// stream ends when the scheduler and all its jobs are gone. Cancel-safe: dropping a `next()` future
/// loses no event. **Can it wait forever?** `next()` waits for the next happening: forever if the
/// scheduler stays alive and nothing happens any more; use [`try_next`](Events::try_next) to
/// read only what is there.
pub struct Events<K> {
    receiver: Pin<Box<async_channel::Receiver<Event<K>>>>,
}

impl<K> Stream for Events<K> {
    type Item = Event<K>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.receiver.as_mut().poll_next(cx)
    }
}

impl<K> Events<K> {
    /// Takes the next event if one is waiting. Never waits.
    ///
    /// # Examples
    ///
    /// ```
    /// # use fetch_scheduler::{BoxFuture, JobContext, Runtime, Scheduler};
    /// # struct Smol;
    /// # impl Runtime for Smol {
    /// #     fn spawn(&self, task: BoxFuture<'static, ()>) { smol::spawn(task).detach(); }
    /// #     fn sleep(&self, d: std::time::Duration) -> BoxFuture<'static, ()> {
    /// #         Box::pin(async move { smol::Timer::after(d).await; })
    /// #     }
    /// # }
    /// # let tarballs: Scheduler<String, usize, std::io::Error> = Scheduler::builder()
    /// #     .build(Smol, |url: &String, _cx: JobContext| {
    /// #         let len = url.len();
    /// #         async move { Ok(len) }
    /// #     })
    /// #     .unwrap();
    /// use fetch_scheduler::EventKind;
    ///
    /// let events = tarballs.events();
    /// smol::block_on(tarballs.get("react.tgz".to_string())).unwrap();
    /// let kinds: Vec<EventKind> = std::iter::from_fn(|| events.try_next()).map(|e| e.kind).collect();
    /// assert!(matches!(kinds.last(), Some(EventKind::Succeeded { attempt: 1 })));
    /// ```
    pub fn try_next(&self) -> Option<Event<K>> {
        self.receiver.try_recv().ok()
    }
}

/// The subscribers, shared by the scheduler lock and the running attempts (for progress).
///
/// Free when nobody listens: one relaxed load per event. Plain `std` primitives, also under loom:
/// events are observations, not part of the state machine.
///
pub(crate) struct EventHub<K> {
    listening: AtomicBool,
    senders: Mutex<Vec<async_channel::Sender<Event<K>>>>,
}

impl<K: Clone> EventHub<K> {
    pub(crate) fn new() -> Self {
        EventHub {
            listening: AtomicBool::new(false),
            senders: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn subscribe(&self) -> Events<K> {
        let (sender, receiver) = async_channel::unbounded();
        let mut senders = self.senders.lock().unwrap_or_else(|p| p.into_inner());
        senders.push(sender);
        self.listening.store(true, Relaxed);
        Events {
            receiver: Box::pin(receiver),
        }
    }

    /// Sends to every live subscriber. Events of one key are sent in transition order: all but
    /// `Progress` are sent under the scheduler lock.
    pub(crate) fn send(&self, key: &K, kind: EventKind) {
        if !self.listening.load(Relaxed) {
            return;
        }
        let mut senders = self.senders.lock().unwrap_or_else(|p| p.into_inner());
        let event = Event {
            key: key.clone(),
            kind,
        };
        senders.retain(|s| s.try_send(event.clone()).is_ok());
        if senders.is_empty() {
            self.listening.store(false, Relaxed);
        }
    }
}
