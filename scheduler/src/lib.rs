//! Single-flight, priority-aware download scheduling for package installers.
//!
//! An installer prefetches each package as the resolver finds it, then demands the ones the
//! install needs now. `fetch-scheduler` runs every such download exactly once, lets a demand jump
//! ahead of speculative work, keeps results readable from any thread without awaiting, and never
//! hangs when the caller that started a download goes away.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use fetch_scheduler::{BoxFuture, JobContext, Runtime, Scheduler};
//!
//! // The core depends on no executor; `fetch-scheduler-smol` and `fetch-scheduler-tokio` provide
//! // this in one line. Here, smol's global executor by hand:
//! struct Smol;
//! impl Runtime for Smol {
//!     fn spawn(&self, task: BoxFuture<'static, ()>) {
//!         smol::spawn(task).detach();
//!     }
//!     fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
//!         Box::pin(async move {
//!             smol::Timer::after(d).await;
//!         })
//!     }
//! }
//!
//! let tarballs: Scheduler<String, Arc<Vec<u8>>, std::io::Error> = Scheduler::builder()
//!     .concurrency(16)
//!     .reserved_for_demand(4)
//!     .build(Smol, |url: &String, _cx: &JobContext| {
//!         let url = url.clone();
//!         async move { Ok(Arc::new(format!("bytes of {url}").into_bytes())) }
//!     })
//!     .unwrap();
//!
//! // The resolver: fire and forget.
//! tarballs.prefetch("react-18.2.0.tgz".to_string());
//! tarballs.prefetch("lodash-4.17.21.tgz".to_string());
//!
//! smol::block_on(async {
//!     // The install: joins the prefetch in flight (promoting it if still queued).
//!     let react = tarballs.get("react-18.2.0.tgz".to_string()).await.unwrap();
//!     assert_eq!(&react[..], b"bytes of react-18.2.0.tgz");
//!     tarballs.close();
//!     tarballs.drain().await;
//! });
//! // The warm path, from any thread, no runtime needed:
//! assert!(tarballs.peek(&"lodash-4.17.21.tgz".to_string()).is_some());
//! assert_eq!(tarballs.stats().attempts, 2); // each key fetched once
//! ```
//!
//! # Semantics
//!
//! Each key is **absent**, **queued**, **running**, **backing off** (between retries) or **done**;
//! the full transition table is in the source of `key_state.rs` and summarized here.
//!
//! - **Single flight.** At most one attempt per key runs at a time; every request for a key in
//!   flight joins it. Claiming a key is one step under one lock.
//! - **Priority.** [`Class::Prefetch`] < [`Class::Demand`], then a `u64` hint (larger first), then
//!   FIFO. A job's priority is the highest of its live interests.
//! - **Promotion.** [`Scheduler::get`] on a queued prefetch moves it to the demand class in O(1):
//!   the queue is a set of linked lists per (class, hint), so nothing is scanned. The running
//!   attempt sees its priority change through [`JobContext::priority`].
//! - **Demotion.** When every waiter of a queued job is gone, it falls back to prefetch priority
//!   if a prefetch asked for it, and leaves the queue otherwise. A running job always finishes.
//! - **Capacity.** `concurrency` slots; prefetches hold at most `concurrency - reserved_for_demand`
//!   of them, so a demand never waits behind speculative downloads while the reserve is free. A
//!   waiter holds no slot; neither does a job in retry backoff.
//! - **Progress without callers.** Attempts run on tasks spawned through the [`Runtime`]; a dropped
//!   waiter never cancels or stalls them.
//! - **Results.** Values are kept and returned to every later caller; [`Scheduler::peek`] reads
//!   them with one shard read lock, no scheduler lock, no await.
//! - **Errors.** Every waiter of a failed job receives the fetcher's real error, shared
//!   ([`Error::Failed`]). Transient errors are retried by the [`RetryPolicy`] and then forgotten (the
//!   next request starts afresh); errors classified [`ErrorClass::Permanent`] are kept.
//! - **Panics** in a fetcher fail that job with [`Error::Panicked`] and free its slot; the
//!   scheduler keeps working.
//! - **Close.** [`Scheduler::close`] refuses new work and drops queued prefetches;
//!   [`Scheduler::drain`] resolves when the rest has ended.
//! - **Observation.** [`Scheduler::events`], [`Scheduler::stats`], [`Scheduler::snapshot`].
//!
//! # Design notes
//!
//! - All in-flight state sits behind one `Mutex`, held for well under a microsecond per operation
//!   and never across user code or an await: claim, join, promote, demote and complete are each one
//!   step, which is what makes single flight and the capacity rule easy to prove (loom models of the
//!   real code, a property test against a reference model).
//! - Done values live apart, in 32 shards of `RwLock<HashTable>` read with the hash computed once,
//!   so the warm path never meets the scheduler lock. A lock-free map was the alternative; measured
//!   in the same run, this read costs 1.1–1.3× a plain `HashMap::get` and is faster than
//!   `papaya`'s epoch-guarded read (see `BENCHMARKS.md`).
//! - A worker task whose attempt ends hands its slot to the next queued job and runs it itself, so
//!   a busy scheduler spawns about `concurrency` tasks rather than one per job; workers are
//!   monomorphized for the fetcher type, so an attempt's future is not boxed.
//! - A worker holds the slots of several started jobs at once (the jobs one locked section
//!   starts are spread over as many workers as the machine has threads). Attempts that finish
//!   without waiting — cache hits — are ended together, one lock hold for the whole batch, which
//!   also takes the jobs the freed slots start: for 10 000 instant jobs this took ours from 0.8×
//!   to 1.05–1.3× the speed of a spawn per job behind a semaphore on one quiet machine; on
//!   another, with slow thread wake-ups, it is about 1.0× on tokio and 0.65× on smol
//!   (`BENCHMARKS.md`). The first time an attempt waits, every other job the worker holds gets a
//!   task of its own, so downloads never wait behind one another; a batch that has computed for
//!   over 500 µs spreads the rest over as many workers as the machine has threads.
//! - A worker keeps a job's outcome in the store *before* taking the lock to end the job, so the
//!   store write stays out of the locked section; for that instant the key is both kept and in
//!   flight, and a request arriving then simply joins the ending job.
//! - [`Scheduler::get_all`] registers its keys as one batch, a few hundred per lock hold: no future,
//!   waiter slot or key copy per key. The worker that ends jobs posts their answers (each with
//!   its job's record, from which the stream moves the key out, so the record is freed on the
//!   thread that made it) to the batch's inbox after releasing the lock, one inbox lock per batch
//!   of answers, and the stream empties its inbox without ever taking the scheduler lock.
//! - A worker that goes straight on to its next job holds back the wake-ups of the jobs it just
//!   ended until its next attempt first waits (at most 128 instant jobs), so a consumer of many
//!   instant jobs is woken once per run instead of once per job.
//! - [`Scheduler::drain`] gives back the memory a burst's bookkeeping grew; kept results stay until
//!   [`Scheduler::forget`].

#![warn(missing_docs)]

mod builder;
mod core;
mod deferred_wakes;
mod drain;
mod effects;
mod error;
mod event;
mod fetch;
mod inbox;
mod inner;
mod key_state;
mod outbox;
mod priority;
mod queue;
mod retry;
mod runtime;
mod scheduler;
mod spin_then_lock;
mod stats;
mod store;
mod sync;
mod wait;
mod waiter;
mod worker;

pub use crate::builder::Builder;
pub use crate::core::Prefetched;
pub use crate::drain::Drain;
pub use crate::error::{ConfigError, Error, ErrorClass};
pub use crate::event::{Event, EventKind, Events};
pub use crate::fetch::{Fetch, JobContext};
pub use crate::priority::{Class, Priority};
pub use crate::retry::RetryPolicy;
pub use crate::runtime::{BoxFuture, Runtime};
pub use crate::scheduler::Scheduler;
pub use crate::stats::{InFlight, JobState, Stats};
pub use crate::wait::{GetAll, Wait};
