//! Our scheduler (`fetch_scheduler`), set up for each benchmark scenario.

use std::sync::Arc;

use fetch_scheduler::{JobContext, Runtime, Scheduler, Wait};

use crate::{NoError, Value};

/// The scheduler type every benchmark uses: URL keys, `Arc` values, fetchers that never fail.
pub type Sched = Scheduler<String, Value, NoError>;

/// A scheduler whose fetcher answers at once with the key's length.
pub fn instant(runtime: impl Runtime, concurrency: usize) -> Sched {
    Scheduler::builder()
        .concurrency(concurrency)
        .build(runtime, |key: &String, _cx: JobContext| {
            let value = Arc::new(key.len() as u64);
            async move { Ok::<_, NoError>(value) }
        })
        .expect("valid configuration")
}

/// A scheduler with every key of `keys` done: prefetched, fetched by an instant fetcher, kept.
///
/// `block_on` drives a future to completion on the caller's thread (the runtime must run the
/// jobs: a tokio runtime's `block_on`, or `futures_lite::future::block_on` with smol's global
/// executor).
pub fn filled(
    runtime: impl Runtime,
    keys: &[String],
    block_on: impl FnOnce(fetch_scheduler::Drain<String, Value, NoError>),
) -> Sched {
    let sched = instant(runtime, 64);
    for key in keys {
        sched.prefetch(key.clone());
    }
    block_on(sched.drain());
    for key in keys {
        assert!(sched.peek(key).is_some(), "every key is done");
    }
    sched
}

/// A scheduler with every key of `keys` running, each fetch blocked forever, and each key
/// demanded by a first caller whose [`Wait`] is returned (keep it alive: it is the first caller).
pub fn in_flight(
    runtime: impl Runtime,
    keys: &[String],
) -> (Sched, Vec<Wait<String, Value, NoError>>) {
    let sched: Sched = Scheduler::builder()
        .concurrency(keys.len() + 1)
        .reserved_for_demand(0)
        .build(runtime, |_key: &String, _cx: JobContext| {
            std::future::pending::<Result<Value, NoError>>()
        })
        .expect("valid configuration");
    let first = keys.iter().map(|key| sched.get(key.clone())).collect();
    (sched, first)
}
