//! The runtime boundary: the only two things the core needs from an executor.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A boxed, `Send` future, as handed to and returned by a [`Runtime`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the scheduler needs from an async runtime: spawn a detached task, and sleep.
///
/// Jobs run on tasks spawned here, so they make progress even when nobody polls a waiter, and a
/// dropped waiter never cancels or stalls a download. The adapter crates implement this trait for
/// tokio (`fetch-scheduler-tokio`) and smol (`fetch-scheduler-smol`); any executor that can run a
/// `Send + 'static` future to completion and provide a timer fits in a few lines:
///
/// ```
/// use std::time::Duration;
/// use fetch_scheduler::{BoxFuture, Runtime};
///
/// /// Runs every task on smol's global executor.
/// struct Smol;
///
/// impl Runtime for Smol {
///     fn spawn(&self, task: BoxFuture<'static, ()>) {
///         smol::spawn(task).detach();
///     }
///     fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
///         Box::pin(async move {
///             smol::Timer::after(duration).await;
///         })
///     }
/// }
/// ```
pub trait Runtime: Send + Sync + 'static {
    /// Runs `task` to completion in the background; it must be polled even if the caller never
    /// looks at it again. A runtime that shuts down may drop its tasks unfinished: the job of such
    /// a task fails with [`Error::Aborted`](crate::Error::Aborted). A task dropped before it was
    /// ever polled (refused, or dropped by a runtime already shutting down) tells the scheduler
    /// that the runtime is gone for good: from then on every job that would start fails the same
    /// way, so drop tasks unpolled only when no task will ever run again.
    fn spawn(&self, task: BoxFuture<'static, ()>);

    /// A future that completes once `duration` has passed. Used for retry backoff only.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}
