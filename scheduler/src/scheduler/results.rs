//! Kept results: read without waiting, kept from outside, forgotten.

use std::borrow::Borrow;
use std::hash::Hash;

use super::Scheduler;
use crate::core::Core;

impl<K, V, E> Scheduler<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    /// The kept value of `key`, if its job succeeded. Never waits and takes no scheduler lock: one
    /// hash and one read lock of the kept results. A key kept as a permanent error returns `None`;
    /// `get` returns that error.
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
    /// # let tarballs: Scheduler<String, usize, std::io::Error> = Scheduler::builder()
    /// #     .build(Smol, |url: &String, _cx: JobContext| {
    /// #         let len = url.len();
    /// #         async move { Ok(len) }
    /// #     })
    /// #     .unwrap();
    /// assert_eq!(tarballs.peek("react.tgz"), None);
    /// smol::block_on(tarballs.get("react.tgz".to_string())).unwrap();
    /// // The warm path: from any thread, no runtime, no await; `&str` for `String` keys.
    /// assert_eq!(tarballs.peek("react.tgz"), Some(9));
    /// ```
    pub fn peek<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        Core::kept_value(&self.inner.store, self.inner.hash(key), key)
    }

    /// Keeps `value` as the result of `key`, as if a job for it had succeeded, unless a job for `key`
    /// is in flight (queued, running or backing off): then nothing changes and that job's own result
    /// will be kept. Replaces a kept value or permanent error. Returns whether `value` was kept.
    /// Works after [`close`](Self::close) too. Never waits.
    ///
    /// For a value obtained outside the scheduler — read from a persistent store, or fetched by
    /// another path — that later requests should share instead of fetching it again. No event is
    /// sent: no job ran.
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
    /// # let tarballs: Scheduler<String, usize, std::io::Error> = Scheduler::builder()
    /// #     .build(Smol, |url: &String, _cx: JobContext| {
    /// #         let len = url.len();
    /// #         async move { Ok(len) }
    /// #     })
    /// #     .unwrap();
    /// assert!(tarballs.insert("a.tgz".to_string(), 42)); // found on disk
    /// assert_eq!(tarballs.peek("a.tgz"), Some(42));
    /// assert_eq!(tarballs.stats().attempts, 0);
    /// ```
    pub fn insert(&self, key: K, value: V) -> bool {
        let inner = &self.inner;
        let hash = inner.hash(&key);
        inner
            .lock()
            .insert(key, hash, value, &inner.store, |k| inner.hash(k))
    }

    /// Drops the kept value or permanent error of `key`, so the next request fetches it again.
    /// Returns whether anything was kept. Does not touch a job in flight. Never waits.
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
    /// # let tarballs: Scheduler<String, usize, std::io::Error> = Scheduler::builder()
    /// #     .build(Smol, |url: &String, _cx: JobContext| {
    /// #         let len = url.len();
    /// #         async move { Ok(len) }
    /// #     })
    /// #     .unwrap();
    /// smol::block_on(tarballs.get("react.tgz".to_string())).unwrap();
    /// assert!(tarballs.forget("react.tgz"));
    /// assert_eq!(tarballs.peek("react.tgz"), None);
    /// assert!(!tarballs.forget("react.tgz"), "nothing kept any more");
    /// ```
    pub fn forget<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        Core::forget(&self.inner.store, self.inner.hash(key), key)
    }
}
