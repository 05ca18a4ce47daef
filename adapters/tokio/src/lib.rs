//! Run [`fetch-scheduler`](fetch_scheduler) on a tokio runtime.
//!
//! ```
//! use std::sync::Arc;
//! use fetch_scheduler::{JobContext, Scheduler};
//! use fetch_scheduler_tokio::TokioRuntime;
//!
//! #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! async fn main() {
//!     let scheduler: Scheduler<String, Arc<str>, std::io::Error> = Scheduler::builder()
//!         .concurrency(8)
//!         .build(TokioRuntime::current(), |key: &String, _cx: JobContext| {
//!             let key = key.clone();
//!             async move { Ok(Arc::from(key.to_uppercase())) }
//!         })
//!         .unwrap();
//!     scheduler.prefetch("left-pad".to_string());
//!     let value = scheduler.get("left-pad".to_string()).await.unwrap();
//!     assert_eq!(&*value, "LEFT-PAD");
//! }
//! ```

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use fetch_scheduler::{BoxFuture, Runtime};
use tokio::runtime::Handle;

/// A [`Runtime`] that spawns jobs on a tokio runtime and sleeps with tokio's timer.
///
/// Retry backoff uses tokio's timer when the runtime has one (`enable_time` / `enable_all`). The
/// first backoff finds out by sleeping in a task of its own: on a runtime built without the time
/// driver that task fails (tokio prints its "timers are disabled" panic message once), and every
/// backoff from then on sleeps on the blocking pool instead of failing the job.
///
/// The scheduler does not keep the runtime alive (it holds a [`Handle`]): when the runtime shuts
/// down with jobs in flight, their tasks are dropped and their waiters get
/// [`Error::Aborted`](fetch_scheduler::Error::Aborted), as does every job that would start later.
#[derive(Clone, Debug)]
pub struct TokioRuntime {
    handle: Handle,
    /// Whether the runtime has a time driver; found out at the first backoff.
    has_timer: Arc<OnceLock<bool>>,
}

impl TokioRuntime {
    /// The runtime the caller runs on.
    ///
    /// # Panics
    /// Outside a tokio runtime context, like [`Handle::current`]. Use [`TokioRuntime::try_current`]
    /// to get an error instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use fetch_scheduler_tokio::TokioRuntime;
    ///
    /// #[tokio::main(flavor = "current_thread")]
    /// async fn main() {
    ///     // Inside the runtime: its jobs will run here.
    ///     let runtime = TokioRuntime::current();
    ///     # drop(runtime);
    /// }
    /// ```
    pub fn current() -> Self {
        TokioRuntime::new(Handle::current())
    }

    /// The runtime the caller runs on, or an error outside a tokio runtime context.
    ///
    /// # Examples
    ///
    /// ```
    /// use fetch_scheduler_tokio::TokioRuntime;
    ///
    /// assert!(TokioRuntime::try_current().is_err(), "no runtime on this thread");
    /// ```
    pub fn try_current() -> Result<Self, tokio::runtime::TryCurrentError> {
        Handle::try_current().map(TokioRuntime::new)
    }

    /// A given runtime, by its handle (works from any thread).
    ///
    /// # Examples
    ///
    /// ```
    /// use fetch_scheduler::{JobContext, Scheduler};
    /// use fetch_scheduler_tokio::TokioRuntime;
    ///
    /// let rt = tokio::runtime::Runtime::new().unwrap();
    /// let tarballs: Scheduler<String, usize, std::io::Error> = Scheduler::builder()
    ///     .build(TokioRuntime::new(rt.handle().clone()), |url: &String, _cx: JobContext| {
    ///         let len = url.len();
    ///         async move { Ok(len) }
    ///     })
    ///     .unwrap();
    /// // From a thread outside the runtime: the job runs on the runtime's workers.
    /// assert_eq!(tarballs.get_blocking("react.tgz").unwrap(), 9);
    /// ```
    pub fn new(handle: Handle) -> Self {
        TokioRuntime {
            handle,
            has_timer: Arc::new(OnceLock::new()),
        }
    }

    /// The handle jobs are spawned on.
    ///
    /// # Examples
    ///
    /// ```
    /// use fetch_scheduler_tokio::TokioRuntime;
    ///
    /// let rt = tokio::runtime::Runtime::new().unwrap();
    /// let runtime = TokioRuntime::new(rt.handle().clone());
    /// assert_eq!(runtime.handle().id(), rt.handle().id());
    /// ```
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl From<Handle> for TokioRuntime {
    fn from(handle: Handle) -> Self {
        TokioRuntime::new(handle)
    }
}

impl Runtime for TokioRuntime {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        // A runtime that has shut down drops the task unpolled, which tells the scheduler so.
        drop(self.handle.spawn(task));
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let handle = self.handle.clone();
        let has_timer = Arc::clone(&self.has_timer);
        Box::pin(async move {
            let started = Instant::now();
            if has_timer.get() != Some(&false) {
                // `tokio::time::sleep` panics on a runtime without a timer; inside a task of its
                // own that panic is the task's failure, which tells us so.
                let timer = handle.spawn(async move { tokio::time::sleep(duration).await });
                match timer.await {
                    Ok(()) => {
                        let _ = has_timer.set(true);
                        return;
                    }
                    Err(error) if error.is_panic() => {
                        let _ = has_timer.set(false);
                    }
                    // Cancelled: the runtime is shutting down, and this task goes with it.
                    Err(_) => return,
                }
            }
            let left = duration.saturating_sub(started.elapsed());
            let _ = handle
                .spawn_blocking(move || std::thread::sleep(left))
                .await;
        })
    }
}
