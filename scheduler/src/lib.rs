//! Single-flight, priority-aware download scheduling for package installers.
//!
//! An installer prefetches each package as the resolver finds it, then demands the ones the
//! install needs now. `fetch-scheduler` runs every such download exactly once, lets a demand jump
//! ahead of speculative work, keeps results readable from any thread without awaiting, and never
//! hangs when the caller that started a download goes away — nor when the runtime does.
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
//!     .build(Smol, |url: &String, _cx: JobContext| {
//!         let url = url.clone();
//!         async move { Ok(Arc::new(format!("bytes of {url}").into_bytes())) }
//!     })
//!     .unwrap();
//!
//! // The resolver: fire and forget.
//! tarballs.prefetch("react-18.2.0.tgz".to_string());
//! tarballs.prefetch_with_hint("lodash-4.17.21.tgz".to_string(), 547_000);
//!
//! smol::block_on(async {
//!     // The install: joins the prefetch in flight (promoting it if still queued).
//!     let react = tarballs.get("react-18.2.0.tgz".to_string()).await.unwrap();
//!     assert_eq!(&react[..], b"bytes of react-18.2.0.tgz");
//!     tarballs.close();
//!     tarballs.drain().await;
//! });
//! // The warm path, from any thread, no runtime needed (`&str` works for `String` keys):
//! assert!(tarballs.peek("lodash-4.17.21.tgz").is_some());
//! assert_eq!(tarballs.stats().attempts, 2); // each key fetched once
//! ```
//!
//! The [`installers`] guide maps an installer's call sites (pacquet's) to this API. The crate's
//! runnable examples show the installer flow whole — prefetch as packages are resolved, the cold
//! batch, the warm path, close and drain — on tokio (`installer_tokio`) and on smol
//! (`installer_smol`), and what `events`, `snapshot` and `stats` show of it (`observe`):
//! `cargo run -p fetch-scheduler --example installer_tokio`.
//!
//! # Semantics
//!
//! Each key is **absent**, **queued**, **running**, **backing off** (between retries) or **done**.
//! The rules that move it between them:
//!
//! - **Single flight.** At most one attempt per key runs at a time; every request for a key in
//!   flight joins it; requests racing for an absent key never start it twice.
//! - **Priority.** [`Class::Prefetch`] < [`Class::Demand`], then a `u64` hint (larger first), then
//!   FIFO. A job's priority is the highest of its live interests: the class of its waiters if it
//!   has any, and the highest hint of all its waiters and prefetches.
//! - **Promotion.** [`Scheduler::get`] on a queued prefetch moves it to the demand class in O(1),
//!   without scanning the queue. The running attempt sees its priority change through
//!   [`JobContext::priority`].
//! - **Demotion.** When every waiter of a queued job is gone, it falls back to prefetch priority
//!   if a prefetch asked for it, and leaves the queue otherwise. A running job always finishes.
//! - **Capacity.** `concurrency` slots; prefetches hold at most `concurrency - reserved_for_demand`
//!   of them, so a demand never waits behind speculative downloads while the reserve is free. A
//!   waiter holds no slot; neither does a job in retry backoff.
//! - **Bytes.** With a [`byte_budget`](Builder::byte_budget), a job also starts only while the
//!   weights of the running jobs, its own included, stay within it; prefetches hold at most the
//!   budget less the demand's share (the slots' reserve, as a fraction). A job heavier than what
//!   it may hold starts once no running job holds bytes, and runs alone; a job in retry backoff
//!   holds no bytes. A running attempt corrects its job's weight ([`JobContext::set_weight`]) and
//!   gives it back early ([`JobContext::release`]); the rest is given back when the attempt ends,
//!   however it ends.
//! - **Progress without callers.** Every attempt runs on a task of its own, spawned through the
//!   [`Runtime`]; a dropped waiter never cancels or stalls it.
//! - **Results.** Values are kept and returned to every later caller, also after `close`;
//!   [`Scheduler::peek`] reads them with one read lock, no scheduler lock, no await. A value found
//!   outside the scheduler (on disk, by another path) is kept with [`Scheduler::insert`], unless a
//!   job for its key is in flight. [`Wait::is_owner`] tells the `get` that queued a job — whose key
//!   the fetcher sees — from those that joined it.
//! - **Errors.** Every waiter of a failed job receives the fetcher's real error, shared
//!   ([`Error::Failed`]). Transient errors are retried by the [`RetryPolicy`] and then forgotten (the
//!   next request starts afresh); errors classified [`ErrorClass::Permanent`] are kept.
//! - **Panics** in a fetcher fail that job with [`Error::Panicked`] and free its slot; the
//!   scheduler keeps working.
//! - **Runtime shutdown.** A job whose task is dropped unfinished (its runtime shut down) fails its
//!   waiters with [`Error::Aborted`] and frees its slot; once a task is dropped before it ever ran,
//!   every job that would start fails the same way, so no waiter and no [`Scheduler::drain`] waits
//!   on a runtime that is gone.
//! - **Close.** [`Scheduler::close`] refuses new work and drops queued prefetches;
//!   [`Scheduler::drain`] resolves when the rest has ended.
//! - **Observation.** [`Scheduler::events`] (each variant of [`EventKind`] says which happening
//!   sends it), [`Scheduler::stats`], [`Scheduler::snapshot`].
//! - **Time.** No behaviour depends on the clock except the retry backoff.
//!
//! # Weights
//!
//! A job's weight is the `u64` hint its requests give ([`Scheduler::prefetch_with_hint`],
//! [`Scheduler::get_with_hint`], [`Hinted`]): the highest of them, or
//! [`Builder::default_weight`] without one. Installers already pass a tarball's size as the hint
//! (larger first, so the long downloads start early), and a second per-request number would be the
//! same number given twice, or two that disagree. The hint is only known as well as the lockfile
//! knows it; the attempt corrects it when it learns the real size ([`JobContext::set_weight`] on
//! `Content-Length`). Hints that are not sizes make the budget count the wrong thing: set no budget
//! then, or correct every weight from the fetcher.
//!
//! # Per-request data
//!
//! Data a request carries that is not its identity (the integrity to check, the size) goes in the
//! key type, left out of its `Eq` and `Hash`: two requests for one URL are then one job, and no
//! side table is needed. With `K: Borrow<str>`, `peek`, `cancel` and `forget` take the bare URL.
//! The [`installers`] guide shows it whole.

#![warn(missing_docs)]

mod builder;
mod core;
mod drain;
mod error;
mod event;
mod fetch;
mod get_all;
mod inner;
mod prefetched;
mod priority;
mod queue;
mod retry;
mod runtime;
mod scheduler;
mod stats;
mod store;
mod sync;
mod tasks;
mod wait;
mod weigh;

#[doc = include_str!("../docs/installers.md")]
pub mod installers {}

pub use crate::builder::{Builder, DEFAULT_WEIGHT};
pub use crate::drain::Drain;
pub use crate::error::{ConfigError, Error, ErrorClass};
pub use crate::event::{Event, EventKind, Events, FailCause};
pub use crate::fetch::{Fetch, JobContext};
pub use crate::get_all::{GetAll, Hinted};
pub use crate::prefetched::Prefetched;
pub use crate::priority::{Class, Priority};
pub use crate::retry::RetryPolicy;
pub use crate::runtime::{BoxFuture, Runtime};
pub use crate::scheduler::Scheduler;
pub use crate::stats::{InFlight, JobState, Stats};
pub use crate::wait::Wait;

/// Every public type is `Send + Sync` (with `Send + Sync` parameters), checked at compile time.
#[allow(dead_code)]
fn _public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    type K = String;
    type V = std::sync::Arc<[u8]>;
    type E = std::io::Error;
    check::<Scheduler<K, V, E>>();
    check::<Builder<K, V, E>>();
    check::<Wait<K, V, E>>();
    check::<GetAll<K, V, E>>();
    check::<Drain<K, V, E>>();
    check::<Hinted<K>>();
    check::<Events<K>>();
    check::<Event<K>>();
    check::<EventKind>();
    check::<FailCause>();
    check::<Error<E>>();
    check::<ErrorClass>();
    check::<ConfigError>();
    check::<JobContext>();
    check::<Prefetched>();
    check::<Class>();
    check::<Priority>();
    check::<RetryPolicy>();
    check::<Stats>();
    check::<InFlight<K>>();
    check::<JobState>();
}
