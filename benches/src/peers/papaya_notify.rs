//! uv's pattern: `OnceMap` of `crates/uv-once-map`, as uv's resolver and installer use it, on a
//! `papaya` map.
//!
//! How it mirrors the original:
//! - a concurrent map from key to `Value::Waiting(Arc<Notify>)` or `Value::Filled(V)`, `V` being
//!   an `Arc` in uv's uses;
//! - `register(key)` claims atomically: inserts `Waiting` with a fresh `Notify` if the key is
//!   vacant and returns `true` (the caller must fetch and call `done`), else `false`;
//! - `done(key, value)` replaces the entry with `Filled(value)` and, if it was `Waiting`, calls
//!   `notify_waiters()`;
//! - `wait(&key)`: a `Filled` entry is cloned out; a `Waiting` one has its `Notify` cloned, a
//!   `notified()` future created, the map re-checked (the value may have landed in between), then
//!   the notification awaited and the value read back;
//! - `get(&key)`: the synchronous read of a `Filled` entry — uv's fast path for a done key;
//! - callers do `if map.register(key.clone()) { fetch; map.done(key, v) } else { map.wait(&key) }`
//!   ([`PapayaNotify::get_or_fetch`]).
//!
//! The `OnceMap` versions we read keep the entries in a `DashMap`; the benchmark brief names this
//! peer `papaya_notify` and puts the same protocol on `papaya` (lock-free reads). Every `papaya`
//! operation pins an epoch guard, as a `OnceMap` method would. Our hasher instead of the default
//! one; no counters.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;

use tokio::sync::Notify;

use crate::Hasher;

/// An entry of the map (uv-once-map's `Value`).
#[derive(Debug)]
pub enum Value<V> {
    /// Registered; the registrant is fetching.
    Waiting(Arc<Notify>),
    /// Done.
    Filled(V),
}

/// uv's `OnceMap` on `papaya`.
pub struct PapayaNotify<V> {
    items: papaya::HashMap<String, Value<V>, Hasher>,
}

impl<V> std::fmt::Debug for PapayaNotify<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PapayaNotify")
            .field("len", &self.items.len())
            .finish()
    }
}

impl<V: Clone + Send + Sync> Default for PapayaNotify<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: Clone + Send + Sync> PapayaNotify<V> {
    /// An empty map.
    pub fn new() -> Self {
        PapayaNotify {
            items: papaya::HashMap::builder().hasher(Hasher::default()).build(),
        }
    }

    /// Claims `key`: `true` if the caller must now fetch it and call [`done`](Self::done).
    pub fn register(&self, key: String) -> bool {
        self.items
            .pin()
            .try_insert_with(key, || Value::Waiting(Arc::new(Notify::new())))
            .is_ok()
    }

    /// Publishes the value of a registered key and wakes its waiters.
    pub fn done(&self, key: String, value: V) {
        let items = self.items.pin();
        if let Some(Value::Waiting(notify)) = items.insert(key, Value::Filled(value)) {
            notify.notify_waiters();
        }
    }

    /// The value of a done key, if it is done.
    #[inline]
    pub fn get(&self, key: &str) -> Option<V> {
        match self.items.pin().get(key)? {
            Value::Filled(value) => Some(value.clone()),
            Value::Waiting(_) => None,
        }
    }

    /// Waits for the value of a registered key; `None` if it was never registered.
    pub async fn wait(&self, key: &str) -> Option<V> {
        let notify = match self.items.pin().get(key)? {
            Value::Filled(value) => return Some(value.clone()),
            Value::Waiting(notify) => Arc::clone(notify),
        };
        let notification = pin!(notify.notified());
        if let Some(Value::Filled(value)) = self.items.pin().get(key) {
            return Some(value.clone());
        }
        notification.await;
        match self.items.pin().get(key) {
            Some(Value::Filled(value)) => Some(value.clone()),
            _ => unreachable!("notified only once filled"),
        }
    }

    /// uv's call-site pattern: register and fetch, or wait for whoever registered first.
    pub async fn get_or_fetch<Fut>(&self, key: &str, fetch: impl FnOnce() -> Fut) -> V
    where
        Fut: Future<Output = V>,
    {
        if self.register(key.to_string()) {
            let value = fetch().await;
            self.done(key.to_string(), value.clone());
            value
        } else {
            self.wait(key).await.expect("registered above")
        }
    }
}
