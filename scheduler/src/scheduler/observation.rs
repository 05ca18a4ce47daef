//! Observation: counters and gauges, the in-flight snapshot, and the events.

use std::hash::Hash;

use super::Scheduler;
use crate::event::Events;
use crate::stats::{InFlight, Stats};
use crate::sync::Ordering;

impl<K, V, E> Scheduler<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    /// Counters and gauges. Takes the scheduler lock briefly; never waits otherwise.
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
    /// tarballs.prefetch("react.tgz".to_string());
    /// smol::block_on(tarballs.get("react.tgz".to_string())).unwrap();
    /// smol::block_on(tarballs.get("react.tgz".to_string())).unwrap();
    /// let stats = tarballs.stats();
    /// assert_eq!((stats.attempts, stats.succeeded, stats.kept), (1, 1, 1));
    /// assert_eq!(stats.in_flight(), 0);
    /// ```
    pub fn stats(&self) -> Stats {
        let mut stats = self.inner.lock().stats();
        stats.hits += self.inner.hits.load(Ordering::Relaxed);
        stats.kept = self.inner.store.len();
        stats
    }

    /// Every in-flight job, oldest first, with its state, priority, age and waiters: what to print
    /// when an install seems stuck. Never waits.
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
    /// # // One slot, and downloads that never end: what is queued stays queued.
    /// # let tarballs: Scheduler<String, usize, std::io::Error> = Scheduler::builder()
    /// #     .concurrency(1)
    /// #     .reserved_for_demand(0)
    /// #     .build(Smol, |_url: &String, _cx: JobContext| std::future::pending())
    /// #     .unwrap();
    /// use fetch_scheduler::{JobState, Priority};
    ///
    /// tarballs.prefetch("a.tgz".to_string());
    /// tarballs.prefetch_with_hint("b.tgz".to_string(), 7);
    /// let jobs = tarballs.snapshot();
    /// assert_eq!(jobs[0].key, "a.tgz");
    /// assert_eq!(jobs[0].state, JobState::Running { attempt: 1 });
    /// assert_eq!((jobs[1].state, jobs[1].priority), (JobState::Queued, Priority::prefetch(7)));
    /// ```
    pub fn snapshot(&self) -> Vec<InFlight<K>> {
        self.inner.lock().snapshot()
    }

    /// Subscribes to every [`Event`](crate::Event) from now on. With no subscriber, events cost one
    /// branch each and no allocation. Never waits; see [`Events`] for its stream.
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
    /// use fetch_scheduler::{EventKind, Priority};
    ///
    /// let events = tarballs.events();
    /// smol::block_on(tarballs.get("react.tgz".to_string())).unwrap();
    /// let first = events.try_next().unwrap();
    /// assert_eq!((first.key.as_str(), first.kind), ("react.tgz", EventKind::Queued(Priority::demand(0))));
    /// ```
    pub fn events(&self) -> Events<K> {
        self.inner.events.subscribe()
    }
}
