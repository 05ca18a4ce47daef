//! pacquet's pattern: the in-memory tarball cache of `pnpm/crates/tarball` (pacquet, pnpm's Rust
//! port), as its `run_with_mem_cache` uses it.
//!
//! How it mirrors the original:
//! - the cache is a `DashMap<String, Arc<tokio::sync::RwLock<CacheValue>>>` keyed by the tarball
//!   URL, `CacheValue` being `InProgress(Arc<Notify>)`, `Available(value)` or `Failed`;
//! - every request — a hit too — claims through `entry(url.to_string())`: a write lock on the
//!   shard and an owned copy of the key. `Occupied` hands back the slot; `Vacant` inserts
//!   `InProgress` with a fresh `Notify`, and the caller becomes the owner;
//! - a non-owner read-locks the slot (`RwLock::read().await`): `Available` returns the value,
//!   `Failed` returns a sibling-failed error, `InProgress` clones the `Notify` and loops:
//!   create `notified()`, `enable()` it, re-check under the read lock, then await the notification;
//! - the owner runs the fetch, write-locks the slot to `Available` (or `Failed`, removing the
//!   entry so a later caller retries) and calls `notify_waiters()`.
//!
//! Differences, all in the peer's favour or neutral: our hasher instead of SipHash; no progress
//! reporting or tracing on the paths; the value is any `Clone` type instead of
//! `Arc<HashMap<String, PathBuf>>`.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use tokio::sync::{Notify, RwLock};

use crate::Hasher;

/// What a cache slot holds (pacquet's `CacheValue`).
#[derive(Debug)]
pub enum CacheValue<V> {
    /// The owner is fetching; waiters park on this `Notify`.
    InProgress(Arc<Notify>),
    /// The fetch succeeded.
    Available(V),
    /// The owner's fetch failed.
    Failed,
}

/// The owner's fetch of the same key failed (pacquet's `SiblingFetchFailed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SiblingFetchFailed;

/// pacquet's `MemCache` and its `run_with_mem_cache` protocol.
#[derive(Debug, Default)]
pub struct DashmapNotify<V> {
    cache: DashMap<String, Arc<RwLock<CacheValue<V>>>, Hasher>,
}

impl<V: Clone> DashmapNotify<V> {
    /// An empty cache.
    pub fn new() -> Self {
        DashmapNotify {
            cache: DashMap::with_hasher(Hasher::default()),
        }
    }

    /// Returns the value of `url`: from the cache, by joining the fetch in progress, or by running
    /// `fetch` as the owner.
    pub async fn get_or_fetch<F, Fut>(&self, url: &str, fetch: F) -> Result<V, SiblingFetchFailed>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, SiblingFetchFailed>>,
    {
        // Claim atomically; the shard guard is gone at the end of this statement.
        let (slot, owner) = match self.cache.entry(url.to_string()) {
            Entry::Occupied(entry) => (Arc::clone(entry.get()), None),
            Entry::Vacant(entry) => {
                let notify = Arc::new(Notify::new());
                let slot = Arc::new(RwLock::new(CacheValue::InProgress(Arc::clone(&notify))));
                entry.insert(Arc::clone(&slot));
                (slot, Some(notify))
            }
        };
        let Some(notify) = owner else {
            return wait(&slot).await;
        };
        match fetch().await {
            Ok(value) => {
                *slot.write().await = CacheValue::Available(value.clone());
                notify.notify_waiters();
                Ok(value)
            }
            Err(error) => {
                *slot.write().await = CacheValue::Failed;
                self.cache.remove(url);
                notify.notify_waiters();
                Err(error)
            }
        }
    }
}

/// The non-owner's path: read the slot, else park on its `Notify` until the owner publishes.
async fn wait<V: Clone>(slot: &RwLock<CacheValue<V>>) -> Result<V, SiblingFetchFailed> {
    let notify = match &*slot.read().await {
        CacheValue::Available(value) => return Ok(value.clone()),
        CacheValue::InProgress(notify) => Arc::clone(notify),
        CacheValue::Failed => return Err(SiblingFetchFailed),
    };
    loop {
        // Register before re-checking: `notify_waiters` stores no permit.
        let mut notified = pin!(notify.notified());
        notified.as_mut().enable();
        match &*slot.read().await {
            CacheValue::Available(value) => return Ok(value.clone()),
            CacheValue::Failed => return Err(SiblingFetchFailed),
            CacheValue::InProgress(_) => {}
        }
        notified.await;
    }
}
