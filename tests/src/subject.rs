//! The scheduler under test: its key, value and error types, and how tests build it.

use std::fmt;

use fetch_scheduler::{ErrorClass, RetryPolicy, Scheduler};

use crate::exec::Ctx;
use crate::fake::Fake;

/// The key type of every test scheduler.
pub type Key = u64;

/// The value type of every test scheduler: [`value_of`] the key and the attempt that produced it.
pub type Value = u64;

/// The scheduler every test builds.
pub type TestScheduler = Scheduler<Key, Value, FetchError>;

/// The value attempt `attempt` of `key` produces, so a test can tell which attempt answered.
pub fn value_of(key: Key, attempt: u32) -> Value {
    key * 1000 + u64::from(attempt)
}

/// The error a [`Fake`] returns: which key, which attempt, and whether it is permanent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchError {
    /// The key that failed.
    pub key: Key,
    /// The attempt that failed (0 for a direct [`Fake::download`]).
    pub attempt: u32,
    /// Whether [`classify`] calls it permanent.
    pub permanent: bool,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.permanent {
            "permanent"
        } else {
            "transient"
        };
        write!(
            f,
            "scripted {kind} error: key {} attempt {}",
            self.key, self.attempt
        )
    }
}

impl std::error::Error for FetchError {}

/// The classify function tests give the builder: [`FetchError::permanent`] decides.
pub fn classify(error: &FetchError) -> ErrorClass {
    if error.permanent {
        ErrorClass::Permanent
    } else {
        ErrorClass::Transient
    }
}

/// A scheduler over `fake` on `ctx`'s runtime with `concurrency` slots, `reserved` of them for
/// demand, no retry, and [`classify`].
pub fn build(ctx: &Ctx, fake: &Fake, concurrency: usize, reserved: usize) -> TestScheduler {
    build_with_retry(ctx, fake, concurrency, reserved, RetryPolicy::never())
}

/// [`build`] with a retry policy.
pub fn build_with_retry(
    ctx: &Ctx,
    fake: &Fake,
    concurrency: usize,
    reserved: usize,
    retry: RetryPolicy,
) -> TestScheduler {
    Scheduler::builder()
        .concurrency(concurrency)
        .reserved_for_demand(reserved)
        .retry(retry)
        .classify(classify)
        .build(ctx.runtime(), fake.clone())
        .expect("valid test configuration")
}
