//! The fetcher: what turns a key into a value, and the context each attempt runs with.

use std::fmt;
use std::future::Future;

use crate::priority::Priority;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use crate::event::{EventHub, EventKind};
use crate::weigh::Weigh;

/// Turns a key into a value: one attempt of one job.
///
/// Implemented for every `Fn(&K, JobContext) -> impl Future<Output = Result<V, E>>` closure. Give
/// the closure's argument types so Rust infers a closure over any lifetime; the context is the
/// attempt's own, so move it into the future, and clone from the key what the future needs:
///
/// ```
/// use fetch_scheduler::JobContext;
/// # fn assert_fetch<F: fetch_scheduler::Fetch<String, usize, std::io::Error>>(_: F) {}
/// let fetcher = |url: &String, cx: JobContext| {
///     let url = url.clone();
///     async move {
///         cx.progress(url.len() as u64, Some(url.len() as u64));
///         Ok::<usize, std::io::Error>(url.len())
///     }
/// };
/// # assert_fetch(fetcher);
/// ```
///
/// The future runs on a task of its own, spawned through the [`Runtime`](crate::Runtime); the
/// scheduler never drops it early, so it need not be cancel-safe (the runtime may, when it shuts
/// down: the job's waiters then get [`Error::Aborted`](crate::Error::Aborted)). A panic in
/// `fetch`, in the future or in its `Drop` fails that attempt with
/// [`Error::Panicked`](crate::Error::Panicked) and frees the slot.
///
/// **Can it wait forever?** A fetch may await other keys of the same scheduler, but it holds its
/// slot while it waits: if every slot the awaited key could take is held by such a fetch, nothing
/// can start it and they all wait forever (with one slot, a fetch that awaits a key not yet in
/// flight always does). Keep dependent lookups out of the fetcher, or give them a scheduler of
/// their own.
pub trait Fetch<K, V, E>: Send + Sync + 'static {
    /// Starts one attempt to fetch `key`.
    fn fetch(&self, key: &K, cx: JobContext)
    -> impl Future<Output = Result<V, E>> + Send + 'static;
}

impl<K, V, E, F, Fut> Fetch<K, V, E> for F
where
    F: Fn(&K, JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<V, E>> + Send + 'static,
{
    fn fetch(
        &self,
        key: &K,
        cx: JobContext,
    ) -> impl Future<Output = Result<V, E>> + Send + 'static {
        self(key, cx)
    }
}

/// What a running attempt can see of its job: the key, the priority the scheduler sets, and where
/// its progress goes. One per job, shared by the scheduler's record of the job and every
/// [`JobContext`] of its attempts.
///
/// Plain `std` primitives on purpose, also under loom: the priority and progress are observations,
/// not part of the state machine, and a `dyn` view of this needs the real `Arc`.
pub(crate) struct JobShared<K> {
    pub(crate) key: K,
    priority: std::sync::Mutex<Priority>,
    bytes: std::sync::atomic::AtomicU64,
    total: std::sync::atomic::AtomicU64,
    events: Arc<EventHub<K>>,
}

const NO_TOTAL: u64 = u64::MAX;

impl<K> JobShared<K> {
    pub(crate) fn new(key: K, priority: Priority, events: Arc<EventHub<K>>) -> Self {
        JobShared {
            key,
            priority: std::sync::Mutex::new(priority),
            bytes: std::sync::atomic::AtomicU64::new(0),
            total: std::sync::atomic::AtomicU64::new(NO_TOTAL),
            events,
        }
    }

    pub(crate) fn set_priority(&self, priority: Priority) {
        *self.priority.lock().unwrap_or_else(|p| p.into_inner()) = priority;
    }

    pub(crate) fn reset_progress(&self) {
        self.bytes.store(0, Relaxed);
        self.total.store(NO_TOTAL, Relaxed);
    }

    pub(crate) fn progress(&self) -> (u64, Option<u64>) {
        let total = match self.total.load(Relaxed) {
            NO_TOTAL => None,
            total => Some(total),
        };
        (self.bytes.load(Relaxed), total)
    }
}

/// The key-independent view a [`JobContext`] holds.
trait JobView: Send + Sync {
    fn priority(&self) -> Priority;
    fn report(&self, bytes: u64, total: Option<u64>);
    fn progress(&self) -> (u64, Option<u64>);
}

impl<K: Clone + Send + Sync + 'static> JobView for JobShared<K> {
    fn priority(&self) -> Priority {
        *self.priority.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn report(&self, bytes: u64, total: Option<u64>) {
        self.bytes.store(bytes, Relaxed);
        self.total.store(total.unwrap_or(NO_TOTAL), Relaxed);
        self.events
            .send(&self.key, EventKind::Progress { bytes, total });
    }

    fn progress(&self) -> (u64, Option<u64>) {
        JobShared::progress(self)
    }
}

/// What a running attempt knows about itself, and how it reports progress.
///
/// Each attempt gets its own, by value; cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct JobContext {
    job: Arc<dyn JobView>,
    bytes: Arc<dyn Weigh>,
    attempt: u32,
}

impl JobContext {
    pub(crate) fn new<K: Clone + Send + Sync + 'static>(
        job: Arc<JobShared<K>>,
        bytes: Arc<dyn Weigh>,
        attempt: u32,
    ) -> Self {
        JobContext {
            job,
            bytes,
            attempt,
        }
    }

    /// This attempt's number, starting at 1. Never waits.
    ///
    /// # Examples
    ///
    /// ```
    /// use fetch_scheduler::JobContext;
    ///
    /// // Fetch from a mirror after the first attempt failed.
    /// let fetch = |name: &String, cx: JobContext| {
    ///     let registry = if cx.attempt() == 1 { "registry.npmjs.org" } else { "mirror.example" };
    ///     let url = format!("https://{registry}/{name}.tgz");
    ///     async move { Ok::<String, std::io::Error>(url) }
    /// };
    /// # fn assert_fetch<F: fetch_scheduler::Fetch<String, String, std::io::Error>>(_: F) {}
    /// # assert_fetch(fetch);
    /// ```
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The job's current effective priority. It changes while the attempt runs when a demand joins
    /// (promotion) or the last demand waiter leaves (demotion); a fetcher may read it to raise, say,
    /// an HTTP/2 stream priority. Never waits.
    ///
    /// # Examples
    ///
    /// ```
    /// use fetch_scheduler::{Class, JobContext};
    ///
    /// let fetch = |name: &String, cx: JobContext| {
    ///     let name = name.clone();
    ///     async move {
    ///         // Read while the download runs: a demand may have joined since it started.
    ///         let urgent = cx.priority().class == Class::Demand;
    ///         Ok::<String, std::io::Error>(format!("{name}, urgent: {urgent}"))
    ///     }
    /// };
    /// # fn assert_fetch<F: fetch_scheduler::Fetch<String, String, std::io::Error>>(_: F) {}
    /// # assert_fetch(fetch);
    /// ```
    pub fn priority(&self) -> Priority {
        self.job.priority()
    }

    /// Reports that `bytes` have arrived so far, out of `total` if known. Shows in
    /// [`snapshot`](crate::Scheduler::snapshot) and, when somebody listens, as a
    /// [`Progress`](crate::EventKind::Progress) event. Never waits.
    ///
    /// # Examples
    ///
    /// ```
    /// use fetch_scheduler::JobContext;
    ///
    /// let fetch = |name: &String, cx: JobContext| {
    ///     let name = name.clone();
    ///     async move {
    ///         let body = format!("the tarball of {name}").into_bytes();
    ///         // As each chunk arrives, out of the Content-Length if the server sent one.
    ///         cx.progress(body.len() as u64, Some(body.len() as u64));
    ///         Ok::<Vec<u8>, std::io::Error>(body)
    ///     }
    /// };
    /// # fn assert_fetch<F: fetch_scheduler::Fetch<String, Vec<u8>, std::io::Error>>(_: F) {}
    /// # assert_fetch(fetch);
    /// ```
    pub fn progress(&self, bytes: u64, total: Option<u64>) {
        self.job.report(bytes, total);
    }

    /// Sets the job's weight — the bytes it holds against the
    /// [`byte_budget`](crate::Builder::byte_budget) — to `bytes`, the real size once known (a
    /// `Content-Length`). Later attempts of the job start at it too. A lighter weight lets queued
    /// jobs start at once; a heavier one may take the running jobs above the budget (the bytes are
    /// there), and no job starts until they fit again. After [`release`](JobContext::release) it
    /// only changes what a later attempt starts at. Does nothing once this attempt has ended.
    ///
    /// Takes the scheduler lock briefly and never waits for anything else; call it from the
    /// attempt, not while holding a lock a job's end could need.
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
    /// let tarballs: Scheduler<String, usize, std::io::Error> = Scheduler::builder()
    ///     .byte_budget(64 << 20)
    ///     .build(Smol, |url: &String, cx: JobContext| {
    ///         let len = url.len();
    ///         async move {
    ///             let content_length = 300_000; // from the response headers
    ///             cx.set_weight(content_length);
    ///             Ok(len)
    ///         }
    ///     })
    ///     .unwrap();
    /// // The lockfile said 100 kB; the server says 300 kB.
    /// smol::block_on(tarballs.get_with_hint("react.tgz".to_string(), 100_000)).unwrap();
    /// assert_eq!(tarballs.stats().peak_bytes_held, 300_000);
    /// assert_eq!(tarballs.stats().bytes_held, 0, "given back when the job ended");
    /// ```
    pub fn set_weight(&self, bytes: u64) {
        self.bytes.set_weight(bytes);
    }

    /// Gives the job's bytes back to the [`byte_budget`](crate::Builder::byte_budget) before the
    /// attempt ends, once its body is no longer held in memory (written to disk, streamed into the
    /// extractor): queued jobs may start at once. The job keeps its slot until it ends. Calling it
    /// again, or after this attempt has ended, does nothing; without it, the bytes are given back
    /// when the attempt ends, however it ends.
    ///
    /// Takes the scheduler lock briefly and never waits for anything else.
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
    /// let tarballs: Scheduler<String, usize, std::io::Error> = Scheduler::builder()
    ///     .byte_budget(64 << 20)
    ///     .build(Smol, |url: &String, cx: JobContext| {
    ///         let len = url.len();
    ///         async move {
    ///             // The body is on disk now; what is left (say, an integrity check) holds no bytes.
    ///             cx.release();
    ///             Ok(len)
    ///         }
    ///     })
    ///     .unwrap();
    /// smol::block_on(tarballs.get_with_hint("react.tgz".to_string(), 80_000)).unwrap();
    /// assert_eq!(tarballs.stats().bytes_held, 0);
    /// ```
    pub fn release(&self) {
        self.bytes.release();
    }
}

impl fmt::Debug for JobContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobContext")
            .field("attempt", &self.attempt)
            .field("priority", &self.priority())
            .field("progress", &self.job.progress())
            .finish()
    }
}
