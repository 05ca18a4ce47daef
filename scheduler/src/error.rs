//! Errors returned to waiters, and configuration errors.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

/// Why a request for a key did not produce a value.
///
/// Cheap to clone: every waiter of a failed attempt receives the same shared error.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error<E> {
    /// The fetcher returned this error on the last attempt (after retries, or at once when it was
    /// classified [`ErrorClass::Permanent`]).
    Failed(Arc<E>),
    /// The fetcher panicked; the payload's message, if it was a string.
    Panicked(Arc<str>),
    /// The scheduler was closed before this request could be served.
    ///
    /// There is no "cancelled" error: [`cancel`](crate::Scheduler::cancel) and
    /// [`close`](crate::Scheduler::close) only ever remove jobs nobody awaits.
    Closed,
    /// The job's task was dropped before the job ended, or the job could not start: the runtime
    /// that runs the scheduler's tasks shut down (a tokio runtime dropped, a smol executor
    /// dropped). The key is absent again; a request on a live runtime starts it afresh.
    Aborted,
}

impl<E> Clone for Error<E> {
    fn clone(&self) -> Self {
        match self {
            Error::Failed(e) => Error::Failed(Arc::clone(e)),
            Error::Panicked(m) => Error::Panicked(Arc::clone(m)),
            Error::Closed => Error::Closed,
            Error::Aborted => Error::Aborted,
        }
    }
}

impl<E: PartialEq> PartialEq for Error<E> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Error::Failed(a), Error::Failed(b)) => a == b,
            (Error::Panicked(a), Error::Panicked(b)) => a == b,
            (Error::Closed, Error::Closed) | (Error::Aborted, Error::Aborted) => true,
            _ => false,
        }
    }
}

impl<E: Eq> Eq for Error<E> {}

impl<E> Error<E> {
    /// The fetcher's own error, when there is one. Never waits.
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
    /// use fetch_scheduler::Error;
    ///
    /// let tarballs: Scheduler<String, usize, std::io::Error> = Scheduler::builder()
    ///     .build(Smol, |_url: &String, _cx: JobContext| async {
    ///         Err::<usize, _>(std::io::Error::other("connection reset"))
    ///     })
    ///     .unwrap();
    /// let error = smol::block_on(tarballs.get("react.tgz".to_string())).unwrap_err();
    /// assert_eq!(error.fetch_error().unwrap().to_string(), "connection reset");
    /// assert!(Error::<std::io::Error>::Closed.fetch_error().is_none());
    /// ```
    pub fn fetch_error(&self) -> Option<&Arc<E>> {
        match self {
            Error::Failed(e) => Some(e),
            _ => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Failed(e) => e.fmt(f),
            Error::Panicked(msg) => write!(f, "the fetcher panicked: {msg}"),
            Error::Closed => f.write_str("the scheduler is closed"),
            Error::Aborted => f.write_str("the job's task was dropped: its runtime shut down"),
        }
    }
}

impl<E: StdError + 'static> StdError for Error<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Failed(e) => Some(&**e),
            _ => None,
        }
    }
}

/// How a fetch error is treated; decided by the classify function given to the
/// [`Builder`](crate::Builder).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// Worth retrying (timeouts, resets, 5xx). After the last attempt the key becomes absent again,
    /// so a later request starts afresh.
    Transient,
    /// Retrying cannot help (404, integrity mismatch): the error is kept like a result and returned
    /// to every later request until [`forget`](crate::Scheduler::forget).
    Permanent,
    /// Transient, and the server said when to come back (HTTP 429 or 503 with `Retry-After`): the
    /// next attempt waits at least this long, capped at the policy's
    /// [`max_delay`](crate::RetryPolicy::max_delay), instead of the usual backoff if that is shorter.
    RetryAfter(std::time::Duration),
}

/// A [`Builder`](crate::Builder) setting that cannot work.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `concurrency` was 0: no job could ever run.
    ZeroConcurrency,
    /// `reserved_for_demand` was not below `concurrency`, so prefetches could never run.
    ReserveTooLarge {
        /// The total number of slots.
        concurrency: usize,
        /// The reserve that was asked for.
        reserved_for_demand: usize,
    },
    /// The retry policy allowed zero attempts.
    ZeroAttempts,
    /// The byte budget was 0: give no budget instead for none.
    ZeroByteBudget,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::ZeroConcurrency => f.write_str("concurrency must be at least 1"),
            ConfigError::ReserveTooLarge {
                concurrency,
                reserved_for_demand,
            } => write!(
                f,
                "reserved_for_demand ({reserved_for_demand}) must be below concurrency ({concurrency}), \
                 or prefetches could never run"
            ),
            ConfigError::ZeroAttempts => {
                f.write_str("the retry policy must allow at least 1 attempt")
            }
            ConfigError::ZeroByteBudget => f.write_str("the byte budget must be at least 1 byte"),
        }
    }
}

impl StdError for ConfigError {}

/// Turns a panic payload into the message waiters receive.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> Arc<str> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        Arc::from(*s)
    } else if let Some(s) = payload.downcast_ref::<String>() {
        Arc::from(s.as_str())
    } else {
        Arc::from("(non-string panic payload)")
    }
}
