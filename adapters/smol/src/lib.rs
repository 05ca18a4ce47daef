//! Run [`fetch-scheduler`](fetch_scheduler) on a smol executor ([`async_executor::Executor`]),
//! with `async-io`'s timer for retry backoff.
//!
//! ```
//! use std::sync::Arc;
//! use async_executor::Executor;
//! use fetch_scheduler::{JobContext, Scheduler};
//! use fetch_scheduler_smol::SmolRuntime;
//!
//! let executor = Arc::new(Executor::new());
//! let scheduler: Scheduler<String, Arc<str>, std::io::Error> = Scheduler::builder()
//!     .concurrency(8)
//!     .build(SmolRuntime::new(&executor), |key: &String, _cx: JobContext| {
//!         let key = key.clone();
//!         async move { Ok(Arc::from(key.to_uppercase())) }
//!     })
//!     .unwrap();
//! scheduler.prefetch("left-pad".to_string());
//! // The executor runs the jobs while this thread waits for the answer.
//! let value = async_io::block_on(executor.run(scheduler.get("left-pad".to_string()))).unwrap();
//! assert_eq!(&*value, "LEFT-PAD");
//! ```

use std::sync::{Arc, Weak};
use std::time::Duration;

use async_executor::Executor;
use async_io::Timer;
use fetch_scheduler::{BoxFuture, Runtime};

/// A [`Runtime`] that spawns jobs on a smol executor and sleeps with `async-io`'s timer.
///
/// The executor must be driven (`executor.run(..)` on one or more threads) while the scheduler
/// has work: jobs spawned on an executor nobody runs never start. The scheduler does not keep the
/// executor alive (like a tokio `Handle`, it holds a weak reference): once the executor is
/// dropped, jobs in flight and every job that would start later fail with
/// [`Error::Aborted`](fetch_scheduler::Error::Aborted) instead of waiting forever.
#[derive(Clone, Debug)]
pub struct SmolRuntime {
    executor: Weak<Executor<'static>>,
}

impl SmolRuntime {
    /// Spawns on `executor`; the caller keeps it alive and drives it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use fetch_scheduler::{JobContext, Scheduler};
    /// use fetch_scheduler_smol::SmolRuntime;
    ///
    /// let executor = Arc::new(async_executor::Executor::new());
    /// let tarballs: Scheduler<String, usize, std::io::Error> = Scheduler::builder()
    ///     .build(SmolRuntime::new(&executor), |url: &String, _cx: JobContext| {
    ///         let len = url.len();
    ///         async move { Ok(len) }
    ///     })
    ///     .unwrap();
    /// // Drive the executor while waiting for the answer.
    /// let len = async_io::block_on(executor.run(tarballs.get("react.tgz".to_string())));
    /// assert_eq!(len.unwrap(), 9);
    /// ```
    pub fn new(executor: &Arc<Executor<'static>>) -> Self {
        SmolRuntime {
            executor: Arc::downgrade(executor),
        }
    }
}

impl Runtime for SmolRuntime {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        // An executor that is gone drops the task unpolled, which tells the scheduler so.
        if let Some(executor) = self.executor.upgrade() {
            executor.spawn(task).detach();
        }
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            Timer::after(duration).await;
        })
    }
}
