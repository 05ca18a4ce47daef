//! Configuring and building a [`Scheduler`].

use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;

use crate::core::Core;
use crate::error::{ConfigError, ErrorClass};
use crate::event::EventHub;
use crate::fetch::Fetch;
use crate::inner::{Classify, Inner};
use crate::retry::RetryPolicy;
use crate::runtime::Runtime;
use crate::scheduler::Scheduler;
use crate::store::Store;
use crate::sync::{Arc, AtomicU64, Mutex};
use crate::tasks;

/// The weight of a job whose requests gave no size hint, unless
/// [`Builder::default_weight`] says otherwise: 1 MiB, a large npm tarball.
pub const DEFAULT_WEIGHT: u64 = 1 << 20;

/// Settings for a [`Scheduler`]; from [`Scheduler::builder`]. None of its methods waits.
pub struct Builder<K, V, E> {
    concurrency: usize,
    reserved_for_demand: Option<usize>,
    byte_budget: Option<u64>,
    default_weight: u64,
    retry: RetryPolicy,
    classify: Option<Classify<E>>,
    _types: PhantomData<fn(K) -> V>,
}

impl<K, V, E> Default for Builder<K, V, E> {
    fn default() -> Self {
        Builder {
            concurrency: 16,
            reserved_for_demand: None,
            byte_budget: None,
            default_weight: DEFAULT_WEIGHT,
            retry: RetryPolicy::default(),
            classify: None,
            _types: PhantomData,
        }
    }
}

// `Scheduler::builder` lives here, next to what it returns, so that this module depends on
// `scheduler.rs` and not the other way round.
impl<K, V, E> Scheduler<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    /// Starts configuring a scheduler. Never waits.
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
    /// let tarballs: Scheduler<String, usize, std::io::Error> = Scheduler::builder()
    ///     .concurrency(16)
    ///     .reserved_for_demand(4)
    ///     .build(Smol, |url: &String, _cx: JobContext| {
    ///         let len = url.len();
    ///         async move { Ok(len) }
    ///     })
    ///     .unwrap();
    /// assert_eq!(smol::block_on(tarballs.get("react.tgz".to_string())).unwrap(), 9);
    /// ```
    pub fn builder() -> Builder<K, V, E> {
        Builder::default()
    }
}

impl<K, V, E> Builder<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    /// Slots in all: at most this many attempts run at once. Default 16.
    ///
    /// # Examples
    ///
    /// ```
    /// # use fetch_scheduler::Scheduler;
    /// let builder = Scheduler::<String, Vec<u8>, std::io::Error>::builder().concurrency(64);
    /// # drop(builder);
    /// ```
    pub fn concurrency(mut self, slots: usize) -> Self {
        self.concurrency = slots;
        self
    }

    /// Slots prefetches can never take, so a demand finds one free even while speculative downloads
    /// fill the rest. Must be below `concurrency`. Default: a quarter of `concurrency` (at least 1
    /// when `concurrency` > 1).
    ///
    /// # Examples
    ///
    /// ```
    /// # use fetch_scheduler::Scheduler;
    /// // 56 slots prefetches may fill; 8 that only demands take.
    /// let builder = Scheduler::<String, Vec<u8>, std::io::Error>::builder()
    ///     .concurrency(64)
    ///     .reserved_for_demand(8);
    /// # drop(builder);
    /// ```
    pub fn reserved_for_demand(mut self, slots: usize) -> Self {
        self.reserved_for_demand = Some(slots);
        self
    }

    /// The byte budget: a job starts only while the weights of all running jobs, its own included,
    /// stay within `bytes` — beside the slots, not instead of them. Default: no budget.
    ///
    /// A job's weight is its size hint ([`prefetch_with_hint`](Scheduler::prefetch_with_hint),
    /// [`get_with_hint`](Scheduler::get_with_hint), [`Hinted`](crate::Hinted)), or
    /// [`default_weight`](Builder::default_weight) without one; its attempt corrects it with
    /// [`JobContext::set_weight`](crate::JobContext::set_weight) and gives it back early with [`JobContext::release`](crate::JobContext::release). The rules:
    ///
    /// - **Demand keeps its priority.** Prefetches hold at most the budget less the demand's share,
    ///   `bytes × reserved_for_demand / concurrency`, so a small demanded tarball does not wait
    ///   behind large speculative ones.
    /// - **Order is kept.** While the job at the head of the queue does not fit, nothing behind it
    ///   starts ([`EventKind::WaitingForBytes`](crate::EventKind::WaitingForBytes)).
    /// - **Never forever.** A job that fits nowhere — heavier than the budget, or a prefetch heavier
    ///   than its share — starts when no running job holds bytes, and runs alone.
    /// - A job in retry backoff holds no bytes, as it holds no slot.
    ///
    /// Set the budget to at least 3× the largest tarball so it only limits, never paces: below
    /// that, large downloads run fewer at a time than the slots allow.
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
    /// // 64 slots, and at most 1 GiB of tarballs held in memory by running downloads.
    /// let tarballs: Scheduler<String, Vec<u8>, std::io::Error> = Scheduler::builder()
    ///     .concurrency(64)
    ///     .byte_budget(1 << 30)
    ///     .build(Smol, |url: &String, _cx: JobContext| {
    ///         let body = url.clone().into_bytes();
    ///         async move { Ok(body) }
    ///     })
    ///     .unwrap();
    /// smol::block_on(tarballs.get_with_hint("react.tgz".to_string(), 80_000)).unwrap();
    /// assert_eq!(tarballs.stats().peak_bytes_held, 80_000);
    /// ```
    pub fn byte_budget(mut self, bytes: u64) -> Self {
        self.byte_budget = Some(bytes);
        self
    }

    /// The weight of a job none of whose requests gave a size hint (hint 0), until its attempt
    /// calls [`JobContext::set_weight`](crate::JobContext::set_weight). Default: [`DEFAULT_WEIGHT`](crate::DEFAULT_WEIGHT).
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
    /// let tarballs: Scheduler<String, usize, std::io::Error> = Scheduler::builder()
    ///     .byte_budget(64 << 20)
    ///     .default_weight(200_000) // the median tarball of the lockfile
    ///     .build(Smol, |url: &String, _cx: JobContext| {
    ///         let len = url.len();
    ///         async move { Ok(len) }
    ///     })
    ///     .unwrap();
    /// smol::block_on(tarballs.get("react.tgz".to_string())).unwrap();
    /// assert_eq!(tarballs.stats().peak_bytes_held, 200_000);
    /// ```
    pub fn default_weight(mut self, bytes: u64) -> Self {
        self.default_weight = bytes;
        self
    }

    /// The retry policy for transient errors. Default: [`RetryPolicy::default`].
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
    /// use std::time::Duration;
    /// use fetch_scheduler::RetryPolicy;
    ///
    /// let tarballs: Scheduler<String, u32, std::io::Error> = Scheduler::builder()
    ///     .retry(RetryPolicy::new(5).base_delay(Duration::from_millis(1)))
    ///     .build(Smol, |_url: &String, cx: JobContext| async move {
    ///         match cx.attempt() {
    ///             1 | 2 => Err(std::io::Error::other("connection reset")),
    ///             n => Ok(n),
    ///         }
    ///     })
    ///     .unwrap();
    /// assert_eq!(smol::block_on(tarballs.get("react.tgz".to_string())).unwrap(), 3);
    /// assert_eq!(tarballs.stats().retries, 2);
    /// ```
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Decides which fetch errors are permanent (kept like a result, never retried) and which are
    /// transient (retried, then forgotten), and reads a server's `Retry-After`
    /// ([`ErrorClass::RetryAfter`]). Default: every error is transient. Runs on the attempt's task,
    /// never under a lock; a panic in it fails the attempt as a panic would.
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
    /// use std::io::{Error, ErrorKind};
    /// use fetch_scheduler::ErrorClass;
    ///
    /// let tarballs: Scheduler<String, usize, Error> = Scheduler::builder()
    ///     .classify(|e: &Error| match e.kind() {
    ///         ErrorKind::NotFound => ErrorClass::Permanent, // a 404: retrying cannot help
    ///         _ => ErrorClass::Transient,
    ///     })
    ///     .build(Smol, |_url: &String, _cx: JobContext| async {
    ///         Err::<usize, _>(Error::from(ErrorKind::NotFound))
    ///     })
    ///     .unwrap();
    /// assert!(smol::block_on(tarballs.get("gone.tgz".to_string())).is_err());
    /// assert!(tarballs.get("gone.tgz".to_string()).is_immediate(), "the error is kept");
    /// assert_eq!(tarballs.stats().attempts, 1);
    /// ```
    pub fn classify(mut self, classify: impl Fn(&E) -> ErrorClass + Send + Sync + 'static) -> Self {
        self.classify = Some(Box::new(classify));
        self
    }

    /// Builds the scheduler; jobs will run on tasks spawned through `runtime`, each attempt
    /// produced by `fetcher`.
    ///
    /// # Errors
    /// [`ConfigError`] when `concurrency` is 0, the reserve is not below `concurrency`, the
    /// retry policy allows no attempt, or the byte budget is 0.
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
    /// use fetch_scheduler::ConfigError;
    ///
    /// let fetch = |url: &String, _cx: JobContext| {
    ///     let len = url.len();
    ///     async move { Ok::<usize, std::io::Error>(len) }
    /// };
    /// let tarballs = Scheduler::builder().concurrency(8).build(Smol, fetch).unwrap();
    /// assert_eq!(smol::block_on(tarballs.get("react.tgz".to_string())).unwrap(), 9);
    ///
    /// let none = Scheduler::builder().concurrency(0).build(Smol, fetch);
    /// assert_eq!(none.unwrap_err(), ConfigError::ZeroConcurrency);
    /// ```
    pub fn build<F: Fetch<K, V, E>>(
        self,
        runtime: impl Runtime,
        fetcher: F,
    ) -> Result<Scheduler<K, V, E>, ConfigError> {
        let concurrency = self.concurrency;
        if concurrency == 0 {
            return Err(ConfigError::ZeroConcurrency);
        }
        let reserved = self.reserved_for_demand.unwrap_or(if concurrency > 1 {
            (concurrency / 4).max(1)
        } else {
            0
        });
        if reserved >= concurrency {
            return Err(ConfigError::ReserveTooLarge {
                concurrency,
                reserved_for_demand: reserved,
            });
        }
        if self.retry.max_attempts == 0 {
            return Err(ConfigError::ZeroAttempts);
        }
        if self.byte_budget == Some(0) {
            return Err(ConfigError::ZeroByteBudget);
        }
        let bytes = (self.byte_budget.unwrap_or(u64::MAX), self.default_weight);
        let events = std::sync::Arc::new(EventHub::new());
        let inner = Inner {
            core: Mutex::new(Core::new(
                concurrency,
                reserved,
                bytes,
                self.retry,
                std::sync::Arc::clone(&events),
            )),
            store: Store::new(),
            hasher: foldhash::fast::RandomState::default(),
            runtime: Box::new(runtime),
            fetcher: Box::new(fetcher),
            spawn_job: tasks::spawn::<K, V, E, F>,
            spawn_backoff: tasks::spawn_backoff::<K, V, E>,
            classify: self.classify,
            idle: event_listener::Event::new(),
            events,
            hits: AtomicU64::new(0),
        };
        Ok(Scheduler::from_inner(Arc::new(inner)))
    }
}

impl<K, V, E> fmt::Debug for Builder<K, V, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("concurrency", &self.concurrency)
            .field("reserved_for_demand", &self.reserved_for_demand)
            .field("byte_budget", &self.byte_budget)
            .field("default_weight", &self.default_weight)
            .field("retry", &self.retry)
            .field("classify", &self.classify.is_some())
            .finish()
    }
}
