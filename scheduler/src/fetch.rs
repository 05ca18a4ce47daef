//! The fetcher: what turns a key into a value, and the context each attempt runs with.

use std::fmt;
use std::future::Future;

use crate::priority::Priority;
use crate::runtime::BoxFuture;
use crate::sync::{Arc, AtomicU64, Mutex, Ordering, lock};

/// Turns a key into a value: one attempt of one job.
///
/// Implemented for every `Fn(&K, &JobContext) -> impl Future<Output = Result<V, E>>` closure; give
/// the closure's argument types so Rust infers a closure over any lifetime, and clone what the future
/// needs to own:
///
/// ```
/// use fetch_scheduler::JobContext;
/// # fn assert_fetch<F: fetch_scheduler::Fetch<String, usize, std::io::Error>>(_: F) {}
/// let fetcher = |url: &String, cx: &JobContext| {
///     let url = url.clone();
///     let cx = cx.clone();
///     async move {
///         cx.progress(url.len() as u64, Some(url.len() as u64));
///         Ok::<usize, std::io::Error>(url.len())
///     }
/// };
/// # assert_fetch(fetcher);
/// ```
///
/// The future runs on a task spawned through the [`Runtime`](crate::Runtime); it is never dropped
/// early by the scheduler, so it need not be cancel-safe. A panic in `fetch` or in the future fails
/// that attempt with [`Error::Panicked`](crate::Error::Panicked) and frees the slot.
pub trait Fetch<K, V, E>: Send + Sync + 'static {
    /// Starts one attempt to fetch `key`.
    fn fetch(
        &self,
        key: &K,
        cx: &JobContext,
    ) -> impl Future<Output = Result<V, E>> + Send + 'static;
}

impl<K, V, E, F, Fut> Fetch<K, V, E> for F
where
    F: Fn(&K, &JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<V, E>> + Send + 'static,
{
    fn fetch(
        &self,
        key: &K,
        cx: &JobContext,
    ) -> impl Future<Output = Result<V, E>> + Send + 'static {
        self(key, cx)
    }
}

/// The object-safe form of [`Fetch`] the scheduler stores.
pub(crate) trait DynFetch<K, V, E>: Send + Sync + 'static {
    fn fetch_boxed(&self, key: &K, cx: &JobContext) -> BoxFuture<'static, Result<V, E>>;
}

impl<K, V, E, F: Fetch<K, V, E>> DynFetch<K, V, E> for F {
    fn fetch_boxed(&self, key: &K, cx: &JobContext) -> BoxFuture<'static, Result<V, E>> {
        Box::pin(self.fetch(key, cx))
    }
}

/// Where a running attempt's progress reports go besides the job's counters.
pub(crate) trait ProgressSink: Send + Sync {
    fn report(&self, bytes: u64, total: Option<u64>);
}

/// State a job shares with its running attempt: the priority the scheduler sets, the progress the
/// fetcher reports.
pub(crate) struct JobShared {
    priority: Mutex<Priority>,
    bytes: AtomicU64,
    total: AtomicU64,
}

const NO_TOTAL: u64 = u64::MAX;

impl JobShared {
    pub(crate) fn new(priority: Priority) -> Self {
        JobShared {
            priority: Mutex::new(priority),
            bytes: AtomicU64::new(0),
            total: AtomicU64::new(NO_TOTAL),
        }
    }

    pub(crate) fn set_priority(&self, priority: Priority) {
        *lock(&self.priority) = priority;
    }

    pub(crate) fn reset_progress(&self) {
        self.bytes.store(0, Ordering::Relaxed);
        self.total.store(NO_TOTAL, Ordering::Relaxed);
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn total(&self) -> Option<u64> {
        match self.total.load(Ordering::Relaxed) {
            NO_TOTAL => None,
            total => Some(total),
        }
    }
}

/// What a running attempt knows about itself, and how it reports progress.
///
/// Cheap to clone (an `Arc`); clone it into the fetch future.
#[derive(Clone)]
pub struct JobContext {
    shared: Arc<JobShared>,
    sink: std::sync::Arc<dyn ProgressSink>,
    attempt: u32,
}

impl JobContext {
    pub(crate) fn new(
        shared: Arc<JobShared>,
        sink: std::sync::Arc<dyn ProgressSink>,
        attempt: u32,
    ) -> Self {
        JobContext {
            shared,
            sink,
            attempt,
        }
    }

    /// This attempt's number, starting at 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The job's current effective priority. It changes while the attempt runs when a demand joins
    /// (promotion) or the last demand waiter leaves (demotion); a fetcher may read it to raise, say,
    /// an HTTP/2 stream priority.
    pub fn priority(&self) -> Priority {
        *lock(&self.shared.priority)
    }

    /// Reports that `bytes` have arrived so far, out of `total` if known. Shows in
    /// [`snapshot`](crate::Scheduler::snapshot) and, when somebody listens, as a
    /// [`Progress`](crate::EventKind::Progress) event. Never waits.
    pub fn progress(&self, bytes: u64, total: Option<u64>) {
        self.shared.bytes.store(bytes, Ordering::Relaxed);
        self.shared
            .total
            .store(total.unwrap_or(NO_TOTAL), Ordering::Relaxed);
        self.sink.report(bytes, total);
    }
}

impl fmt::Debug for JobContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobContext")
            .field("attempt", &self.attempt)
            .field("priority", &self.priority())
            .field("bytes", &self.shared.bytes())
            .finish()
    }
}
