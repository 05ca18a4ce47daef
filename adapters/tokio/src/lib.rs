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
//!         .build(TokioRuntime::current(), |key: &String, _cx: &JobContext| {
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
use std::time::Duration;

use fetch_scheduler::{BoxFuture, Runtime};
use tokio::runtime::Handle;

/// A [`Runtime`] that spawns jobs on a tokio runtime and sleeps with tokio's timer.
///
/// Retry backoff uses tokio's timer when the runtime has one (`enable_time` / `enable_all`). On a
/// runtime without it, the first backoff lets tokio print its "timers are disabled" message once,
/// and every backoff sleeps on the blocking pool instead of failing the job. Keep the
/// runtime alive while the scheduler has work: a runtime shut down with jobs in flight drops their
/// tasks, and their waiters then wait forever.
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
    pub fn current() -> Self {
        TokioRuntime::new(Handle::current())
    }

    /// The runtime the caller runs on, or an error outside a tokio runtime context.
    pub fn try_current() -> Result<Self, tokio::runtime::TryCurrentError> {
        Handle::try_current().map(TokioRuntime::new)
    }

    /// A given runtime, by its handle (works from any thread).
    pub fn new(handle: Handle) -> Self {
        TokioRuntime {
            handle,
            has_timer: Arc::new(OnceLock::new()),
        }
    }

    /// The handle jobs are spawned on.
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
        drop(self.handle.spawn(task));
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        // Entering the handle binds the timer to this runtime even when called from outside it.
        let _guard = self.handle.enter();
        if *self
            .has_timer
            .get_or_init(|| std::panic::catch_unwind(|| drop(tokio::time::sleep(duration))).is_ok())
        {
            return Box::pin(tokio::time::sleep(duration));
        }
        // A runtime built without its time driver (tokio said why, once, on stderr): sleep on
        // the blocking pool instead of failing the job.
        let blocking = self
            .handle
            .spawn_blocking(move || std::thread::sleep(duration));
        Box::pin(async move {
            let _ = blocking.await;
        })
    }
}
